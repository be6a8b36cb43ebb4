"""Several `signage serve` processes on one PostgreSQL database (tests/procs.py): the
background jobs run in exactly one of them, and another takes over when it dies."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from signage.db import utcnow
from signage.models import JobLease, Manifest, QueueService, QueueSite, Screen, Site, Ticket

from .conftest import PG_URL
from .procs import Processes

pytestmark = pytest.mark.skipif(
    not PG_URL,
    reason="several server processes need PostgreSQL (SQLite serves one process): "
    "set SIGNAGE_TEST_DATABASE_URL",
)
LEASE_SECONDS = 3
RENEW_SECONDS = LEASE_SECONDS // 3
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], seconds: float, what: str, processes: Processes) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}\n{processes.logs()}")
        time.sleep(0.2)


def noon_zone(now: datetime) -> str:
    """A time zone in which it is about noon now, so no test run crosses a local midnight."""
    hours = (12 - now.hour + 12) % 24 - 12  # -12 ... 11
    return "Etc/GMT" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"


def next_run(now: datetime) -> datetime:
    """When the queue-day job (every minute at 20 s) runs next after `now`."""
    run = now.replace(second=20, microsecond=0)
    return run if run > now else run + timedelta(minutes=1)


def test_a_killed_job_holder_is_replaced_and_the_next_job_runs_once(
    processes: Processes, db: sa.Engine
) -> None:
    zone = noon_zone(utcnow())
    with db.begin() as conn:
        site_id = conn.execute(
            sa.insert(Site).values(
                code="honcho",
                name="本庁舎",
                name_en="",
                timezone=zone,
                languages="ja",
                active=True,
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        # The day opens at the first run of the queue-day job; it closes late for now.
        conn.execute(sa.insert(QueueSite).values(site_id=site_id, opens_at="00:00"))
        service_id = conn.execute(
            sa.insert(QueueService).values(site_id=site_id, prefix="A", name="住民票")
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            sa.insert(Screen).values(
                site_id=site_id, name="lobby", layout="hall", created_at=utcnow()
            )
        )
    today = utcnow().astimezone(ZoneInfo(zone)).date()
    servers = [processes.serve(JOB_LEASE_SECONDS=str(LEASE_SECONDS)) for _ in range(2)]

    def holder() -> int | None:
        with db.connect() as conn:
            lease = conn.execute(sa.select(JobLease.holder, JobLease.expires_at)).first()
        if lease is None or lease.expires_at < utcnow():
            return None
        pid = int(lease.holder.split(":")[1])
        return pid if pid in {s.pid for s in servers} else None

    def queue_state() -> tuple[object, object]:
        with db.connect() as conn:
            return tuple(conn.execute(sa.select(QueueSite.day, QueueSite.closed_day)).one())

    def said(what: str) -> list[int]:
        """How many times each server's log says the queue day was opened or closed."""
        return [s.log().count(f"queue days: {{{site_id}: '{what}'}}") for s in servers]

    # Both schedulers run the queue-day job every minute; one of them opens the day.
    first_pid = wait_for(holder, 30, "a server to hold the job lease", processes)
    leader = next(s for s in servers if s.pid == first_pid)
    other = next(s for s in servers if s is not leader)
    wait_for(
        lambda: True if queue_state()[0] == today else None,
        75,
        "the queue day to open",
        processes,
    )
    assert said("opened") == [1 if s is leader else 0 for s in servers]
    with db.begin() as conn:
        conn.execute(
            sa.insert(Ticket).values(
                site_id=site_id,
                service_id=service_id,
                day=today,
                number=1,
                label="A-001",
                public_id="waiting-ticket",
                status="waiting",
                issued_at=utcnow(),
                joined_at=utcnow(),
            )
        )

    # kill -9 the holder; the closing time is the minute of the next run of the job.
    leader.kill()
    killed_at = time.monotonic()
    closing = next_run(utcnow()).astimezone(ZoneInfo(zone))
    with db.begin() as conn:
        conn.execute(sa.update(QueueSite).values(closes_at=closing.strftime("%H:%M")))
    taken = wait_for(
        lambda: holder() if holder() == other.pid else None,
        LEASE_SECONDS + RENEW_SECONDS + 10,
        "the other server to take the lease",
        processes,
    )
    took = time.monotonic() - killed_at
    assert taken == other.pid
    # Bounded by the lease and one renewal (plus two seconds for busy processors).
    assert took <= LEASE_SECONDS + RENEW_SECONDS + 2, took
    assert "runs the background jobs now" in other.log()

    wait_for(
        lambda: True if queue_state()[1] == today else None,
        75,
        "the queue day to close",
        processes,
    )
    time.sleep(RENEW_SECONDS + 1)  # time for a second (wrong) close to show
    assert said("closed") == [0 if s is leader else 1 for s in servers]
    with db.connect() as conn:
        assert conn.scalar(sa.select(Ticket.status)) == "closed"
    assert other.alive()
    # Built at the first start, rebuilt by the process that took over: one version.
    with db.connect() as conn:
        assert conn.scalar(sa.select(Manifest.version)) == 1
