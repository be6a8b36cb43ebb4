"""Scheduler jobs: one leader at a time, content boundaries, idempotent rebuilds."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from signage import auth, jobs
from signage.app import create_app
from signage.db import create_engine, session_factory, transaction, utcnow
from signage.models import (
    AuditEntry,
    Base,
    JobLease,
    Manifest,
    Notice,
    NoticeText,
    Playlist,
    PlaylistItem,
    QueueService,
    QueueSite,
    Role,
    Screen,
    StaffSession,
    Ticket,
)
from signage.queue import tickets
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


def _count(conn: sa.Connection, table: type[Base]) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def test_every_job_run_twice_does_its_work_once(
    database_url: str, db: sa.Engine, tmp_path: Path
) -> None:
    """Publish and expire (content boundaries), the hourly manifest refresh, the queue day's
    opening and closing and housekeeping: a second run finds nothing left to do."""
    site_id = add_site(db)
    user_id = add_user(db, "admin", Role.ADMIN)
    now = utcnow()
    zone = ZoneInfo("Asia/Tokyo")
    today = now.astimezone(zone).date()
    with Session(db) as orm:
        playlist = Playlist(site_id=None, name="案内")
        orm.add(playlist)
        orm.flush()
        screen = Screen(site_id=site_id, name="lobby", layout="hall")
        screen.default_playlist_id = playlist.id
        orm.add(screen)
        orm.add(
            QueueSite(
                site_id=site_id, opens_at="08:30", closes_at="17:15", day=today - timedelta(days=1)
            )
        )
        service = QueueService(site_id=site_id, prefix="A", name="住民票")
        orm.add(service)
        orm.flush()
        for number, day in [(1, today - timedelta(days=1)), (2, today)]:
            orm.add(
                Ticket(
                    site_id=site_id,
                    service_id=service.id,
                    day=day,
                    number=number,
                    label=f"A-{number:03}",
                    public_id=f"ticket{number}",
                )
            )
        orm.add(StaffSession(id="old", user_id=user_id, last_seen_at=now - timedelta(hours=3)))
        orm.commit()
        screen_id, playlist_id = screen.id, playlist.id
    orphan = tmp_path / "ab" / ("ab" + "0" * 62 + ".jpg")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))

    def version() -> int:
        with db.connect() as conn:
            return int(conn.scalar(sa.select(Manifest.version)) or 0)

    def add_notice(starts: datetime) -> None:
        """A notice put on the playlist behind the change tracking's back, so only the
        next rebuild job brings it to the screen."""
        with Session(db) as orm:
            notice = Notice(status="approved", valid_from=starts, valid_until=None)
            notice.texts = [NoticeText(language="ja", title="窓口の変更")]
            orm.add(notice)
            orm.flush()
            orm.add(PlaylistItem(playlist_id=playlist_id, kind="notice", notice_id=notice.id))
            orm.commit()

    async def scenario() -> list[object]:
        engine = create_engine(database_url)
        runner = jobs.Jobs(session_factory(engine), POLICY, "Asia/Tokyo", media_dir=tmp_path)
        ran: list[object] = []
        try:
            for _ in range(2):  # the hourly refresh, and the first manifest
                ran.append((await runner.rebuild_manifests(), version()))
            add_notice(now + timedelta(hours=1))  # published, starts later
            for _ in range(2):  # the content boundary job
                ran.append((await runner.rebuild_manifests(), version()))
            add_notice(now - timedelta(seconds=1))  # a boundary that has just passed
            for _ in range(2):
                ran.append((await runner.rebuild_manifests(), version()))
            opening = datetime.combine(today, dt_time(9, 0), zone)
            closing = datetime.combine(today, dt_time(17, 30), zone)
            for at in (opening, opening, closing, closing):
                ran.append(await runner.queue_day(at))
            for _ in range(2):
                await runner.housekeeping()
                ran.append(orphan.exists())
        finally:
            await engine.dispose()
        return ran

    with db.connect() as conn:
        audit_before = _count(conn, AuditEntry)
    ran = asyncio.run(scenario())
    assert ran == [
        ([screen_id], 1),
        ([], 1),
        ([screen_id], 2),
        ([], 2),
        ([screen_id], 3),
        ([], 3),
        {site_id: "opened"},
        {},
        {site_id: "closed"},
        {},
        False,
        False,
    ]
    with db.connect() as conn:
        settings = conn.execute(sa.select(QueueSite.day, QueueSite.closed_day)).one()
        assert tuple(settings) == (today, today)
        finished = conn.execute(
            sa.select(Ticket.number, Ticket.status, Ticket.finished_at).order_by(Ticket.number)
        ).all()
        assert _count(conn, StaffSession) == 0
        assert _count(conn, AuditEntry) == audit_before  # jobs leave no audit entries
    # Yesterday's ticket closed at the opening, today's at the closing; once each.
    assert [(n, s) for n, s, _ in finished] == [(1, "closed"), (2, "closed")]
    closing = datetime.combine(today, dt_time(17, 30), zone)
    assert finished[1][2] == closing.astimezone(UTC)
    assert finished[0][2] == datetime.combine(today, dt_time(9, 0), zone).astimezone(UTC)


def test_two_runs_of_the_queue_day_at_once_close_the_day_once(
    database_url: str, db: sa.Engine
) -> None:
    """Two schedulers that both think they lead (the lease ran out mid-run): the site's
    row is locked and read again, so only one of them closes the day."""
    site_id = add_site(db)
    with db.begin() as conn:
        conn.execute(sa.insert(QueueSite).values(site_id=site_id, opens_at="08:30"))
    zone = ZoneInfo("Asia/Tokyo")
    closing = datetime.combine(utcnow().astimezone(zone).date(), dt_time(17, 30), zone)

    async def scenario() -> list[dict[int, str]]:
        engine = create_engine(database_url)
        sessions = session_factory(engine)

        async def run() -> dict[int, str]:
            async with transaction(sessions) as session:
                return await tickets.day_boundaries(session, closing)

        try:
            return list(await asyncio.gather(run(), run()))
        finally:
            await engine.dispose()

    done = asyncio.run(scenario())
    # The first opens and closes the day (it was never opened); the second finds both done.
    assert sorted(done, key=len) == [{}, {site_id: "closed"}]
