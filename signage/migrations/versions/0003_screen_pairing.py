"""screen pairing and player state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pairing_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairing_requests")),
        sa.UniqueConstraint("code", name=op.f("uq_pairing_requests_code")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pairing_requests_token_hash")),
    )
    with op.batch_alter_table("pairing_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pairing_requests_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pairing_requests_ip"), ["ip"], unique=False)

    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("paired_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("player_kind", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("player_version", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("manifest_ack", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_unique_constraint(batch_op.f("uq_screens_token_hash"), ["token_hash"])


def downgrade() -> None:

    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_screens_token_hash"), type_="unique")
        batch_op.drop_column("manifest_ack")
        batch_op.drop_column("player_version")
        batch_op.drop_column("player_kind")
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("paired_at")
        batch_op.drop_column("token_hash")

    with op.batch_alter_table("pairing_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairing_requests_ip"))
        batch_op.drop_index(batch_op.f("ix_pairing_requests_expires_at"))

    op.drop_table("pairing_requests")
