"""Background jobs (APScheduler 3), run by one process at a time.

Every process starts a scheduler, but a job only does its work in the process that holds
the `scheduler` lease (a row in `job_leases`, SIGNAGE_JOB_LEASE_SECONDS long, renewed
every third of that and at every run), so jobs never run twice when a city runs several
server processes. When the holder dies, another process takes the lease once it has run
out and at once rebuilds the manifests and plans the next content boundary, which the
dead process had planned. Jobs are idempotent besides: each looks at what is stored
(manifest content hashes, a site's opened and closed days, row ages) under a lock, so a
second run finds nothing left to do. While the database cannot be reached, jobs skip
their turn with one log line.

- `rebuild_manifests`: on the hour (the 48-hour window moves on) and at start-up.
- `content_boundary`: at the next moment a notice or schedule starts or ends, so the
  stored manifests change then. Players already switch at that moment by their own clock,
  because manifests carry each item's window; this keeps the server's copy exact too.
- `housekeeping`: expired sessions, old login failures, media files nothing refers to.
- `alerts`: every few seconds, alerts past their expiry end (signage/alerts/service.py).
- `alert_feeds`: the Atom feeds of CAP or JMA alerts listed in SIGNAGE_ALERT_RULES, at
  the shortest `every_seconds` of them (signage/alerts/feeds.py).
- `queue_day`: every minute, each site's queue day starts at its opening time (numbers
  from 1 again) and what is still open is closed out at its closing time.
- `screen_watch`: every few seconds, screens of sites with a screen webhook that went
  offline or came back become webhook events (signage/webhooks.py).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signage import auth, changes, manifests, media, metrics, submissions, totp, webhooks
from signage.alerts import service as alert_service
from signage.alerts.feeds import FeedPoller
from signage.db import first_line, transaction, unreachable, utcnow
from signage.live.hub import Hub
from signage.models import JobLease, Notice, ScheduleEntry
from signage.queue import tickets

log = logging.getLogger("signage.jobs")
LEASE = "scheduler"
LEASE_SECONDS = 90
ALERT_SECONDS = 5  # how often alerts past their expiry are marked expired
SCREEN_WATCH_SECONDS = 15  # how often screens' online state is compared for webhooks
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


async def _leader(
    sessions: async_sessionmaker[AsyncSession], holder: str, seconds: int = LEASE_SECONDS
) -> bool:
    try:
        async with transaction(sessions) as db:
            return await hold_lease(db, holder, utcnow(), seconds)
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
        lease_seconds: int = LEASE_SECONDS,
        poller: FeedPoller | None = None,
        hub: Hub | None = None,
    ) -> None:
        self.sessions = sessions
        self.hub = hub
        self.poller = poller
        self.lease_seconds = lease_seconds
        self.leading = False  # held the lease at the last look
        self.database_down = False
        self.readonly = readonly or sessions
        self.media_dir = media_dir
        self.policy = policy
        self.holder = holder
        self.scheduler = AsyncIOScheduler(timezone=timezone)
        self.scheduler.add_listener(
            self._counted, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        )
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
        self.scheduler.add_job(
            self.rebuild_manifests, "cron", minute=0, second=5, id="rebuild", **common
        )
        self.scheduler.add_job(
            self.housekeeping, "interval", minutes=15, id="housekeeping", **common
        )
        self.scheduler.add_job(
            self.renew, "interval", seconds=max(1, lease_seconds // 3), id="lease", **common
        )
        self.scheduler.add_job(self.queue_day, "cron", second=20, id="queue_day", **common)
        self.scheduler.add_job(
            self.alerts, "interval", seconds=ALERT_SECONDS, id="alerts", **common
        )
        self._alerts_looked = utcnow()
        if hub is not None:
            self.scheduler.add_job(
                self.screen_watch, "interval", seconds=SCREEN_WATCH_SECONDS, id="screen_watch",
                **common,
            )  # fmt: skip
        if poller is not None and poller.feeds:
            every = min(feed.every_seconds for feed in poller.feeds)
            self.scheduler.add_job(
                self.poll_feeds, "interval", seconds=every, id="alert_feeds", **common
            )

    def _counted(self, event: JobExecutionEvent) -> None:
        """Each run of a job, by its result (`signage_job_runs_total` in /metrics)."""
        if event.code == EVENT_JOB_MISSED:
            result = "missed"
        elif event.exception is not None:
            result = "failure"
        elif event.job_id != "lease" and not self.leading:
            result = "skipped"  # another process holds the lease: it does the work
        else:
            result = "success"
        metrics.JOB_RUNS.labels(event.job_id, result).inc()

    def start(self) -> None:
        self.scheduler.start()
        self.scheduler.add_job(self.rebuild_manifests, id="startup", coalesce=True)

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)

    async def renew(self) -> None:
        await self.lead()

    async def lead(self, *, catch_up: bool = True) -> bool:
        """Take or renew the lease; whether this process runs the jobs now. A process that
        has just taken the lease over catches up (`catch_up`): it rebuilds the manifests
        and plans the next content boundary, which only the previous holder knew."""
        try:
            leading = await _leader(self.sessions, self.holder, self.lease_seconds)
        except sa.exc.SQLAlchemyError as exc:
            if not unreachable(exc):
                raise
            if not self.database_down:
                log.warning("jobs wait: the database is unreachable (%s)", first_line(exc))
            self.database_down, self.leading = True, False
            return False
        if self.database_down:
            log.info("jobs go on: the database is reachable again")
        self.database_down = False
        took_over = leading and not self.leading
        self.leading = leading
        if took_over:
            log.info("this process runs the background jobs now (%s)", self.holder)
            if catch_up and self.scheduler.running:
                self.scheduler.add_job(
                    self.rebuild_manifests, id="take_over", replace_existing=True
                )
        return leading

    async def housekeeping(self) -> None:
        if not await self.lead():
            return
        async with transaction(self.sessions) as db:
            await auth.prune_sessions(db, self.policy)
            await auth.prune_failures(db, self.policy)
            await totp.prune_pending(db)
            await submissions.prune(db)
            await webhooks.prune(db, utcnow())
        async with self.readonly() as db:
            removed = await media.prune_orphans(db, self.media_dir)
        if removed:
            log.info("removed %d media files nothing refers to", removed)

    async def queue_day(self, now: datetime | None = None) -> dict[int, str]:
        if not await self.lead():
            return {}
        async with transaction(self.sessions) as db:
            done = await tickets.day_boundaries(db, now or utcnow())
        if done:
            log.info("queue days: %s", done)
        return done

    async def screen_watch(self, now: datetime | None = None) -> list[tuple[int, str]]:
        """Screens that went offline or came back, as webhook events."""
        if self.hub is None or not await self.lead():
            return []
        async with transaction(self.sessions) as db:
            return await webhooks.watch_screens(db, self.hub, now or utcnow())

    async def alerts(self, now: datetime | None = None) -> list[int]:
        """Expire alerts past their expiry and send the ones that became effective; the
        expired alerts' ids. Players never show an alert past its expiry by their own
        clock meanwhile."""
        if not await self.lead():
            return []
        now = now or utcnow()
        since, self._alerts_looked = self._alerts_looked, now
        async with transaction(self.sessions) as db:
            expired = await alert_service.expire_due(db, now)
            await alert_service.became_effective(db, min(since, now), now)
        if expired:
            log.info("alerts expired: %s", expired)
        return expired

    async def poll_feeds(self) -> int:
        """Read the alert feeds of the rules file (signage/alerts/feeds.py)."""
        if self.poller is None or not await self.lead():
            return 0
        return await self.poller.poll_all()

    async def rebuild_manifests(self) -> list[int]:
        """Rebuild every manifest; plan the next content boundary. Returns changed screens."""
        if not await self.lead(catch_up=False):
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
