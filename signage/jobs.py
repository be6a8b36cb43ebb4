"""Background jobs (APScheduler 3): housekeeping now; publishing and expiry later."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signage import auth
from signage.db import transaction

log = logging.getLogger("signage.jobs")


async def housekeeping(
    sessions: async_sessionmaker[AsyncSession], policy: auth.SessionPolicy
) -> None:
    """Remove expired sessions and old login failures. Idempotent: safe to run twice."""
    async with transaction(sessions) as db:
        await auth.prune_sessions(db, policy)
        await auth.prune_failures(db, policy)


def create_scheduler(
    sessions: async_sessionmaker[AsyncSession], policy: auth.SessionPolicy, timezone: str
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=timezone)
    scheduler.add_job(
        housekeeping,
        "interval",
        minutes=15,
        args=[sessions, policy],
        id="housekeeping",
        coalesce=True,
        max_instances=1,
    )
    return scheduler
