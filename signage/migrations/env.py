"""Alembic environment: runs migrations on the URL given by `signage.db.migrate`."""

from __future__ import annotations

from alembic import context

from signage.db import create_sync_engine
from signage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = create_sync_engine(config.attributes["database_url"])
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
