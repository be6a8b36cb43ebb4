"""queue calling

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_kiosks_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosks")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_kiosks_token_hash")),
    )
    op.create_table(
        "queue_counters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_queue_counters_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_counters")),
        sa.UniqueConstraint("site_id", "number", name=op.f("uq_queue_counters_site_id")),
    )
    op.create_table(
        "queue_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("sequence_day", sa.Date(), nullable=True),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_queue_services_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_services")),
        sa.UniqueConstraint("site_id", "prefix", name=op.f("uq_queue_services_site_id")),
    )
    op.create_table(
        "queue_sites",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("opens_at", sa.String(length=5), nullable=False),
        sa.Column("closes_at", sa.String(length=5), nullable=False),
        sa.Column("normal_per_priority", sa.Integer(), nullable=False),
        sa.Column("noshow_after_recalls", sa.Integer(), nullable=False),
        sa.Column("highlight_seconds", sa.Integer(), nullable=False),
        sa.Column("voice_languages", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("closed_day", sa.Date(), nullable=True),
        sa.Column("normal_since_priority", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_queue_sites_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_queue_sites")),
    )
    # Every existing site gets its queue rules with the defaults.
    op.execute(
        "INSERT INTO queue_sites (site_id, opens_at, closes_at, normal_per_priority, "
        "noshow_after_recalls, highlight_seconds, voice_languages, normal_since_priority) "
        "SELECT id, '08:30', '17:15', 3, 2, 10, 'ja,en', 0 FROM sites"
    )
    op.create_table(
        "queue_counter_services",
        sa.Column("counter_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["counter_id"],
            ["queue_counters.id"],
            name=op.f("fk_queue_counter_services_counter_id_queue_counters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["queue_services.id"],
            name=op.f("fk_queue_counter_services_service_id_queue_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("counter_id", "service_id", name=op.f("pk_queue_counter_services")),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("request_key", sa.String(length=80), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("called_at", sa.DateTime(), nullable=True),
        sa.Column("last_called_at", sa.DateTime(), nullable=True),
        sa.Column("recalls", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("counter_id", sa.Integer(), nullable=True),
        sa.Column("for_counter_id", sa.Integer(), nullable=True),
        sa.Column("served_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('waiting', 'called', 'serving', 'held', 'done', 'no_show', "
            "'cancelled', 'closed')",
            name=op.f("ck_tickets_status"),
        ),
        sa.ForeignKeyConstraint(
            ["counter_id"],
            ["queue_counters.id"],
            name=op.f("fk_tickets_counter_id_queue_counters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["for_counter_id"],
            ["queue_counters.id"],
            name=op.f("fk_tickets_for_counter_id_queue_counters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["served_by"],
            ["users.id"],
            name=op.f("fk_tickets_served_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["queue_services.id"], name=op.f("fk_tickets_service_id_queue_services")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_tickets_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("public_id", name=op.f("uq_tickets_public_id")),
        sa.UniqueConstraint("site_id", "day", "label", name="uq_tickets_site_day_label"),
        sa.UniqueConstraint("site_id", "request_key", name="uq_tickets_site_request_key"),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tickets_service_id"), ["service_id"], unique=False)
        batch_op.create_index("ix_tickets_site_day", ["site_id", "day"], unique=False)
        batch_op.create_index("ix_tickets_site_status", ["site_id", "status"], unique=False)

    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("silent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("counter_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_screens_counter_id_queue_counters"),
            "queue_counters",
            ["counter_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_screens_counter_id_queue_counters"), type_="foreignkey"
        )
        batch_op.drop_column("counter_id")
        batch_op.drop_column("silent")

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_site_status")
        batch_op.drop_index("ix_tickets_site_day")
        batch_op.drop_index(batch_op.f("ix_tickets_service_id"))

    op.drop_table("tickets")
    op.drop_table("queue_counter_services")
    op.drop_table("queue_sites")
    op.drop_table("queue_services")
    op.drop_table("queue_counters")
    op.drop_table("kiosks")
