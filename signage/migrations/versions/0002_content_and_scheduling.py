"""media, notices, playlists, screens, schedules, closures, manifests, job leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_leases")),
    )
    op.create_table(
        "closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_closures_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closures")),
        sa.UniqueConstraint("site_id", "day", name=op.f("uq_closures_site_id")),
    )
    op.create_table(
        "playlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_playlists_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlists")),
    )
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_playlists_site_id"), ["site_id"], unique=False)

    op.create_table(
        "screen_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_screen_groups_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screen_groups")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_screen_groups_site_id")),
    )
    with op.batch_alter_table("screen_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_screen_groups_site_id"), ["site_id"], unique=False)

    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("animated", sa.Boolean(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_media_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_media_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("sha256", name=op.f("uq_media_sha256")),
    )
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_site_id"), ["site_id"], unique=False)

    op.create_table(
        "screens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("layout", sa.String(length=32), nullable=False),
        sa.Column("default_playlist_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["default_playlist_id"],
            ["playlists.id"],
            name=op.f("fk_screens_default_playlist_id_playlists"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_screens_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screens")),
    )
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_screens_site_id"), ["site_id"], unique=False)

    op.create_table(
        "manifests",
        sa.Column("screen_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_manifests_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("screen_id", name=op.f("pk_manifests")),
    )
    op.create_table(
        "media_renditions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name=op.f("fk_media_renditions_media_id_media"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_renditions")),
        sa.UniqueConstraint("media_id", "name", name=op.f("uq_media_renditions_media_id")),
    )
    with op.batch_alter_table("media_renditions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_media_renditions_media_id"), ["media_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_media_renditions_sha256"), ["sha256"], unique=False)

    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("style", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=True),
        sa.Column("valid_until", sa.DateTime(), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("rejection_reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'pending', 'approved', 'rejected')", name=op.f("ck_notices_status")
        ),
        sa.CheckConstraint(
            "style IN ('normal', 'important', 'closure')", name=op.f("ck_notices_style")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["users.id"],
            name=op.f("fk_notices_approved_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_notices_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["image_id"], ["media.id"], name=op.f("fk_notices_image_id_media")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_notices_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_status"), ["status"], unique=False)

    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=True),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("dayparts", sa.JSON(), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("cron_minutes", sa.Integer(), nullable=False),
        sa.Column("days", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("days IN ('all', 'open', 'closed')", name=op.f("ck_schedules_days")),
        sa.CheckConstraint(
            "(screen_id IS NULL) != (group_id IS NULL)", name=op.f("ck_schedules_one_target")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_schedules_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["screen_groups.id"],
            name=op.f("fk_schedules_group_id_screen_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_schedules_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_schedules_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_group_id"), ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_playlist_id"), ["playlist_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_screen_id"), ["screen_id"], unique=False)

    op.create_table(
        "screen_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["screen_groups.id"],
            name=op.f("fk_screen_group_members_group_id_screen_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["screen_id"],
            ["screens.id"],
            name=op.f("fk_screen_group_members_screen_id_screens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "screen_id", name=op.f("pk_screen_group_members")),
    )
    op.create_table(
        "notice_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_notice_texts_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_texts")),
        sa.UniqueConstraint("notice_id", "language", name=op.f("uq_notice_texts_notice_id")),
    )
    with op.batch_alter_table("notice_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_texts_notice_id"), ["notice_id"], unique=False)

    op.create_table(
        "playlist_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("media_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('notice', 'image', 'ticker', 'clock', 'queue_board')",
            name=op.f("ck_playlist_items_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name=op.f("fk_playlist_items_media_id_media"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["notices.id"],
            name=op.f("fk_playlist_items_notice_id_notices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_items_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlist_items")),
    )
    with op.batch_alter_table("playlist_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_playlist_items_notice_id"), ["notice_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_playlist_items_playlist_id"), ["playlist_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("playlist_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playlist_items_playlist_id"))
        batch_op.drop_index(batch_op.f("ix_playlist_items_notice_id"))

    op.drop_table("playlist_items")
    with op.batch_alter_table("notice_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_texts_notice_id"))

    op.drop_table("notice_texts")
    op.drop_table("screen_group_members")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_screen_id"))
        batch_op.drop_index(batch_op.f("ix_schedules_playlist_id"))
        batch_op.drop_index(batch_op.f("ix_schedules_group_id"))

    op.drop_table("schedules")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_status"))
        batch_op.drop_index(batch_op.f("ix_notices_site_id"))

    op.drop_table("notices")
    with op.batch_alter_table("media_renditions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_renditions_sha256"))
        batch_op.drop_index(batch_op.f("ix_media_renditions_media_id"))

    op.drop_table("media_renditions")
    op.drop_table("manifests")
    with op.batch_alter_table("screens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screens_site_id"))

    op.drop_table("screens")
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_site_id"))

    op.drop_table("media")
    with op.batch_alter_table("screen_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_screen_groups_site_id"))

    op.drop_table("screen_groups")
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playlists_site_id"))

    op.drop_table("playlists")
    op.drop_table("closures")
    op.drop_table("job_leases")
