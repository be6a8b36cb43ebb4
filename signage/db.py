"""Database engines, sessions and migrations (SQLAlchemy 2 + Alembic)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseError(RuntimeError):
    """The database cannot be reached or prepared; the message says what to fix."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back aware, on every engine."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _url(database_url: str, *, asynchronous: bool) -> URL:
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite" if asynchronous else "sqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise DatabaseError(f"unsupported database {backend!r}: use sqlite or postgresql")


def _prepare_sqlite(engine: Engine, url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin, so that
        # writers take the lock at BEGIN (IMMEDIATE) and never fail half-way on upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Read-only work (see `readonly_sessions`) must not queue behind writers.
        readonly = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")


# How long a new PostgreSQL connection may take before the request gives up (503).
CONNECT_TIMEOUT_SECONDS = 10
# SQLite errors that mean "not now" rather than "wrong": another writer kept the lock past
# the busy timeout, or the file cannot be opened.
_SQLITE_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN"}


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be used just now (stopped, restarting, the
    network cut, the pool out of connections) rather than that a statement is wrong: the
    first is answered with 503 and retried later, the second is a bug."""
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection came free in time
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection drop
    if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return False
    original = exc.orig
    if isinstance(original, sqlite3.Error):
        return getattr(original, "sqlite_errorname", "") in _SQLITE_UNAVAILABLE
    # PostgreSQL: no SQLSTATE means the driver never got an answer (connection refused,
    # dropped, timed out); class 08 is a connection exception, 57P a shutdown or restart.
    sqlstate = getattr(original, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(("08", "57P"))


def create_engine(database_url: str) -> AsyncEngine:
    url = _url(database_url, asynchronous=True)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url)
        _prepare_sqlite(engine.sync_engine, url)
        return engine
    # Pre-ping: a connection that died while pooled (the database restarted, the network
    # was cut) is replaced on checkout, so the server recovers without a restart.
    return create_async_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )


def create_sync_engine(database_url: str) -> Engine:
    url = _url(database_url, asynchronous=False)
    engine = sa.create_engine(url)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(engine, url)
    return engine


def session_factory(
    engine: AsyncEngine, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; `info` (e.g. the push hub) is given to every session."""
    return async_sessionmaker(engine, expire_on_commit=False, info=info or {})


def readonly_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for work that only reads: on SQLite they never wait for the write lock."""
    return async_sessionmaker(engine.execution_options(readonly=True), expire_on_commit=False)


def on_commit(db: AsyncSession, action: Callable[[], None]) -> None:
    """Run `action` once this session's transaction has committed (never if it rolls
    back): players must not hear of a change the database does not keep."""
    db.info.setdefault("after_commit", []).append(action)


def before_commit(db: AsyncSession, hook: Callable[[AsyncSession], Awaitable[object]]) -> None:
    """Run `hook` (once) just before this session commits, inside its transaction: how
    recorded changes become rebuilt manifests (signage/changes.py)."""
    hooks = db.info.setdefault("before_commit", [])
    if hook not in hooks:
        hooks.append(hook)


async def _run_before_commit(db: AsyncSession) -> None:
    while hooks := db.info.pop("before_commit", []):
        for hook in hooks:
            await hook(db)


async def commit(db: AsyncSession) -> None:
    """Commit in the middle of a unit of work, running its before-commit hooks first."""
    await _run_before_commit(db)
    await db.commit()


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get("before_commit"):
        # A bare `session.commit()` would skip the rebuilds that the change needs.
        raise RuntimeError("commit with db.transaction() or db.commit(): changes are pending")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for action in session.info.pop("after_commit", []):
        action()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    for key in ("after_commit", "before_commit", "changes"):
        session.info.pop(key, None)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session
        await _run_before_commit(session)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str, revision: str = "head") -> None:
    """Bring the database schema up to `revision`; raises DatabaseError if unreachable."""
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"cannot connect to the database: {first_line(exc)}") from exc
    finally:
        engine.dispose()
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    """The newest migration's revision, as `migrate` leaves the database."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    return head or ""


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def first_line(exc: BaseException) -> str:
    """The first line of a database error, for a one-line message."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
