"""Scheduler jobs: one leader at a time, content boundaries, idempotent rebuilds."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from signage import auth, jobs
from signage.app import create_app
from signage.db import create_engine, session_factory, transaction, utcnow
from signage.models import JobLease, Manifest, Role
from signage.settings import Settings

from .conftest import add_site, add_user

POLICY = auth.SessionPolicy(timedelta(minutes=30), timedelta(hours=12), 5, timedelta(minutes=15))


def test_only_one_process_holds_the_lease(database_url: str, db: sa.Engine) -> None:
    async def scenario() -> list[bool]:
        engine = create_engine(database_url)
        sessions = session_factory(engine)
        now = utcnow()
        results = []
        try:
            for holder, at in [
                ("a", now),
                ("b", now),
                ("a", now + timedelta(seconds=30)),
                ("b", now + timedelta(seconds=200)),
                ("a", now + timedelta(seconds=210)),
            ]:
                async with transaction(sessions) as session:
                    results.append(await jobs.hold_lease(session, holder, at))
        finally:
            await engine.dispose()
        return results

    # a takes it; b is refused; a renews; after a's lease lapses b takes over; a is refused.
    assert asyncio.run(scenario()) == [True, False, True, True, False]
    with db.connect() as conn:
        assert conn.scalar(sa.select(JobLease.holder)) == "b"


def test_two_schedulers_never_both_run_a_job(
    database_url: str, db: sa.Engine, tmp_path: Path
) -> None:
    site_id = add_site(db)
    add_user(db, "admin", Role.ADMIN)

    async def scenario() -> tuple[list[int], list[int]]:
        engine = create_engine(database_url)
        sessions = session_factory(engine)
        first = jobs.Jobs(sessions, POLICY, "Asia/Tokyo", media_dir=tmp_path, holder="one")
        second = jobs.Jobs(sessions, POLICY, "Asia/Tokyo", media_dir=tmp_path, holder="two")
        try:
            with db.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO screens (site_id, name, layout, created_at) "
                        "VALUES (:site, 'lobby', 'hall', :now)"
                    ),
                    {"site": site_id, "now": utcnow().replace(tzinfo=None)},
                )
            ran_first = await first.rebuild_manifests()
            ran_second = await second.rebuild_manifests()
        finally:
            await engine.dispose()
        return ran_first, ran_second

    ran_first, ran_second = asyncio.run(scenario())
    with db.connect() as conn:
        screen_id = conn.scalar(sa.text("SELECT id FROM screens"))
    assert ran_first == [screen_id]
    assert ran_second == []  # not the leader: did nothing
    with db.connect() as conn:
        assert conn.scalar(sa.select(Manifest.version)) == 1


def test_next_boundary_is_the_nearest_start_or_end(database_url: str, db: sa.Engine) -> None:
    now = utcnow()
    with db.begin() as conn:
        for start, end in [
            (now + timedelta(hours=5), now + timedelta(hours=9)),
            (now - timedelta(hours=1), now + timedelta(hours=2)),
            (now + timedelta(days=5), None),
        ]:
            conn.execute(
                sa.text(
                    "INSERT INTO notices (style, status, valid_from, valid_until, "
                    "rejection_reason, created_at, updated_at) VALUES "
                    "('normal', 'approved', :f, :u, '', :now, :now)"
                ),
                {
                    "f": start.replace(tzinfo=None),
                    "u": end.replace(tzinfo=None) if end else None,
                    "now": now.replace(tzinfo=None),
                },
            )

    async def scenario() -> object:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return await jobs.next_boundary(session, now)
        finally:
            await engine.dispose()

    found = asyncio.run(scenario())
    assert found is not None
    assert abs(found - (now + timedelta(hours=2))) < timedelta(seconds=1)  # type: ignore[operator]


def test_served_app_sweeps_media_nothing_refers_to(settings: Settings, db: sa.Engine) -> None:
    """The housekeeping job of the app `signage serve` builds knows the media folder."""
    orphan = settings.media_dir / "ab" / ("ab" + "0" * 62 + ".jpg")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x")
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    app = create_app(settings)

    async def scenario() -> None:
        try:
            await app.state.jobs.housekeeping()
        finally:
            await app.state.engine.dispose()

    asyncio.run(scenario())
    assert not orphan.exists()
