"""api tokens: scopes, a site, and revoking (the integration API, docs/api.md)

Tokens made before this revision posted alert feeds only: they keep that, as the scope
`alerts:feed` for every site.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.String(length=400), nullable=False, server_default="alerts:feed")
        )
        batch_op.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_site_id_sites"),
            "sites",
            ["site_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("scopes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_site_id_sites"), type_="foreignkey")
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("site_id")
        batch_op.drop_column("scopes")
