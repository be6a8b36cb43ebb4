from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from signage.db import DatabaseError, create_sync_engine, downgrade, migrate
from signage.models import Base

from .conftest import PG_URL

TABLES = {
    "sites",
    "api_tokens",
    "users",
    "staff_sessions",
    "login_failures",
    "audit_log",
    "alembic_version",
    "media",
    "media_renditions",
    "notices",
    "notice_texts",
    "playlists",
    "playlist_items",
    "screens",
    "screen_groups",
    "screen_group_members",
    "schedules",
    "closures",
    "manifests",
    "job_leases",
    "pairing_requests",
    "queue_sites",
    "queue_services",
    "queue_counters",
    "queue_counter_services",
    "tickets",
    "kiosks",
    "recovery_codes",
    "pending_logins",
    "form_submissions",
    "alerts",
    "alert_phrases",
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
    "screen_presence",
}


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a fresh schema on the test PostgreSQL."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin = create_sync_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS migration_test CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA migration_test")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3Dmigration_test"
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS migration_test CASCADE")
    admin.dispose()


def _tables(url: str) -> set[str]:
    engine = create_sync_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_from_empty_match_the_models(empty_url: str) -> None:
    assert _tables(empty_url) == set()
    migrate(empty_url)
    assert _tables(empty_url) == TABLES
    engine = create_sync_engine(empty_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrations_go_down_and_up_again(empty_url: str) -> None:
    migrate(empty_url)
    downgrade(empty_url, "base")
    assert _tables(empty_url) == {"alembic_version"}
    migrate(empty_url)
    migrate(empty_url)  # running twice is harmless
    assert _tables(empty_url) == TABLES


def test_unreachable_database_gives_a_one_line_error() -> None:
    with pytest.raises(DatabaseError) as error:
        migrate("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    message = str(error.value)
    assert message.startswith("cannot connect to the database")
    assert "\n" not in message


def test_tokens_made_before_scopes_keep_the_alert_feeds(empty_url: str) -> None:
    """0010: a token of 0009 (alert feeds only) gets the scope alerts:feed, for every site."""
    migrate(empty_url, "0009")
    engine = create_sync_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_tokens (name, token_hash, created_at)"
                    " VALUES ('jma-relay', :h, CURRENT_TIMESTAMP)"
                ),
                {"h": "0" * 64},
            )
        migrate(empty_url)
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT name, scopes, site_id, revoked_at FROM api_tokens")
            ).one()
        assert tuple(row) == ("jma-relay", "alerts:feed", None, None)
    finally:
        engine.dispose()
