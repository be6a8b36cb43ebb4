"""Background jobs (APScheduler 3), run by one process at a time.

Every process starts a scheduler, but a job only does its work in the process that holds
the `scheduler` lease (a row in `job_leases`, renewed every run), so jobs never run twice
when a city runs several server processes. Jobs are idempotent besides.

- `rebuild_manifests`: on the hour (the 48-hour window moves on) and at start-up.
- `content_boundary`: at the next moment a notice or schedule starts or ends, so the
  stored manifests change then. Players already switch at that moment by their own clock,
  because manifests carry each item's window; this keeps the server's copy exact too.
- `housekeeping`: expired sessions, old login failures, media files nothing refers to.
- `queue_day`: every minute, each site's queue day starts at its opening time (numbers
  from 1 again) and what is still open is closed out at its closing time.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signage import auth, changes, manifests, media, submissions, totp
from signage.db import transaction, utcnow
from signage.models import JobLease, Notice, ScheduleEntry
from signage.queue import tickets

log = logging.getLogger("signage.jobs")
LEASE = "scheduler"
LEASE_SECONDS = 90
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def hold_lease(
    db: AsyncSession, holder: str, now: datetime, seconds: int = LEASE_SECONDS
) -> bool:
    """Take or renew the lease; False while another live process holds it."""
    lease = await db.scalar(sa.select(JobLease).where(JobLease.name == LEASE).with_for_update())
    if lease is None:
        db.add(JobLease(name=LEASE, holder=holder, expires_at=now + timedelta(seconds=seconds)))
        await db.flush()
        return True
    if lease.holder != holder and lease.expires_at > now:
        return False
    lease.holder, lease.expires_at = holder, now + timedelta(seconds=seconds)
    return True


async def _leader(sessions: async_sessionmaker[AsyncSession], holder: str) -> bool:
    try:
        async with transaction(sessions) as db:
            return await hold_lease(db, holder, utcnow())
    except sa.exc.IntegrityError:
        return False  # another process inserted the lease row at the same moment


async def next_boundary(db: AsyncSession, now: datetime) -> datetime | None:
    """The next moment within the manifest window at which a notice or schedule starts or
    ends."""
    horizon = now + timedelta(hours=manifests.HOURS)
    candidates = []
    for column in (
        Notice.valid_from,
        Notice.valid_until,
        ScheduleEntry.starts_at,
        ScheduleEntry.ends_at,
    ):
        found = await db.scalar(
            sa.select(sa.func.min(column)).where(column > now, column <= horizon)
        )
        if found is not None:
            candidates.append(found)
    return min(candidates) if candidates else None


class Jobs:
    """The scheduler and its jobs for one app."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: auth.SessionPolicy,
        timezone: str,
        *,
        media_dir: Path,
        holder: str = HOLDER,
        readonly: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.readonly = readonly or sessions
        self.media_dir = media_dir
        self.policy = policy
        self.holder = holder
        self.scheduler = AsyncIOScheduler(timezone=timezone)
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        self.scheduler.add_job(
            self.rebuild_manifests, "cron", minute=0, second=5, id="rebuild", **common
        )
        self.scheduler.add_job(
            self.housekeeping, "interval", minutes=15, id="housekeeping", **common
        )
        self.scheduler.add_job(self.renew, "interval", seconds=30, id="lease", **common)
        self.scheduler.add_job(self.queue_day, "cron", second=20, id="queue_day", **common)

    def start(self) -> None:
        self.scheduler.start()
        self.scheduler.add_job(self.rebuild_manifests, id="startup", coalesce=True)

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)

    async def renew(self) -> None:
        await _leader(self.sessions, self.holder)

    async def housekeeping(self) -> None:
        if not await _leader(self.sessions, self.holder):
            return
        async with transaction(self.sessions) as db:
            await auth.prune_sessions(db, self.policy)
            await auth.prune_failures(db, self.policy)
            await totp.prune_pending(db)
            await submissions.prune(db)
        async with self.readonly() as db:
            removed = await media.prune_orphans(db, self.media_dir)
        if removed:
            log.info("removed %d media files nothing refers to", removed)

    async def queue_day(self, now: datetime | None = None) -> dict[int, str]:
        if not await _leader(self.sessions, self.holder):
            return {}
        async with transaction(self.sessions) as db:
            done = await tickets.day_boundaries(db, now or utcnow())
        if done:
            log.info("queue days: %s", done)
        return done

    async def rebuild_manifests(self) -> list[int]:
        """Rebuild every manifest; plan the next content boundary. Returns changed screens."""
        if not await _leader(self.sessions, self.holder):
            return []
        now = utcnow()
        async with transaction(self.sessions) as db:
            changes.record(db, changes.WindowMoved(now))
            changed = await changes.settle(db)
            boundary = await next_boundary(db, now)
        if changed:
            log.info("manifests changed: %s", changed)
        self._plan(boundary)
        return changed

    async def replan(self) -> None:
        """After staff change content: move the boundary job to the new next boundary."""
        async with self.readonly() as db:
            self._plan(await next_boundary(db, utcnow()))

    def _plan(self, boundary: datetime | None) -> None:
        if boundary is None or not self.scheduler.running:
            return
        self.scheduler.add_job(
            self.rebuild_manifests,
            "date",
            run_date=boundary + timedelta(seconds=1),
            id="content_boundary",
            replace_existing=True,
            misfire_grace_time=300,
        )
