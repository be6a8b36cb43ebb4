"""What queue boards and residents' phones show: recent calls, who each counter serves,
and per service the waiting count and the estimated wait (a reference value)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content import residents
from content.protocol import Board
from content.queue import RECENT_SERVICES, estimated_wait
from signage.db import utcnow
from signage.models import (
    QueueCounter,
    QueueService,
    QueueSite,
    Site,
    Ticket,
    TicketStatus,
    queue_counter_services,
)
from signage.queue.tickets import local_today, waiting_before

RECENT_CALLS = 8
BOARD_TEXTS = (
    "now_calling",
    "recent_calls",
    "waiting",
    "about_minutes",
    "estimate_note",
    "counter",
)
CALLED_STATES = (
    TicketStatus.CALLED,
    TicketStatus.SERVING,
    TicketStatus.DONE,
    TicketStatus.NO_SHOW,
    TicketStatus.HELD,
)


async def recent_service_times(
    db: AsyncSession, site_id: int, day: date
) -> dict[int, list[timedelta]]:
    """Today's latest service times per service, oldest first (the last 20 are averaged)."""
    rows = await db.execute(
        sa.select(Ticket.service_id, Ticket.started_at, Ticket.finished_at)
        .where(
            Ticket.site_id == site_id,
            Ticket.day == day,
            Ticket.status == TicketStatus.DONE,
            Ticket.started_at.is_not(None),
            Ticket.finished_at.is_not(None),
        )
        .order_by(Ticket.finished_at.desc())
        .limit(RECENT_SERVICES * 20)
    )
    times: dict[int, list[timedelta]] = {}
    for service_id, started, finished in rows:
        if started is not None and finished is not None:
            times.setdefault(service_id, []).insert(0, finished - started)
    return times


async def open_counters(db: AsyncSession, site_id: int) -> dict[int, int]:
    """How many open counters serve each service."""
    rows = await db.execute(
        sa.select(queue_counter_services.c.service_id, sa.func.count())
        .join(QueueCounter, QueueCounter.id == queue_counter_services.c.counter_id)
        .where(QueueCounter.site_id == site_id, QueueCounter.open)
        .group_by(queue_counter_services.c.service_id)
    )
    return {service_id: int(count) for service_id, count in rows}


class ServiceState(TypedDict):
    """A service as the kiosk and the API show it: its names, whether it is open, the
    people waiting and the estimated wait for a resident who takes a number now."""

    id: int
    prefix: str
    names: dict[str, str]
    open: bool
    waiting: int
    wait_minutes: int


@dataclass(frozen=True)
class ServiceLine:
    service: QueueService
    waiting: int
    wait: timedelta  # for a resident who takes a number now

    def state(self) -> ServiceState:
        return {
            "id": self.service.id,
            "prefix": self.service.prefix,
            "names": self.service.names_by_language(),
            "open": self.service.open,
            "waiting": self.waiting,
            "wait_minutes": int(self.wait.total_seconds() // 60),
        }


async def service_lines(db: AsyncSession, site_id: int, day: date) -> list[ServiceLine]:
    services = list(
        await db.scalars(
            sa.select(QueueService)
            .where(QueueService.site_id == site_id)
            .order_by(QueueService.position, QueueService.id)
        )
    )
    waiting = dict(
        (
            await db.execute(
                sa.select(Ticket.service_id, sa.func.count())
                .where(Ticket.site_id == site_id, Ticket.status == TicketStatus.WAITING)
                .group_by(Ticket.service_id)
            )
        ).all()
    )
    times = await recent_service_times(db, site_id, day)
    counters = await open_counters(db, site_id)
    return [
        ServiceLine(
            s,
            int(waiting.get(s.id, 0)),
            estimated_wait(
                int(waiting.get(s.id, 0)) + 1, counters.get(s.id, 0), times.get(s.id, [])
            ),
        )
        for s in services
    ]


async def board(db: AsyncSession, site_id: int, now: datetime | None = None) -> Board:
    """The body of a `queue` message for the site's screens."""
    now = now or utcnow()
    site = await db.get(Site, site_id)
    settings = await db.get(QueueSite, site_id)
    assert site is not None
    # The day whose numbers run (its calls are the recent ones), else the local date.
    day = settings.day if settings and settings.day else local_today(site, now)
    calls = (
        await db.execute(
            sa.select(
                Ticket.id,
                Ticket.label,
                Ticket.counter_id,
                Ticket.status,
                Ticket.last_called_at,
                QueueCounter.number,
            )
            .outerjoin(QueueCounter, QueueCounter.id == Ticket.counter_id)
            .where(
                Ticket.site_id == site_id,
                Ticket.day == day,
                Ticket.last_called_at.is_not(None),
                Ticket.status.in_([s.value for s in CALLED_STATES]),
            )
            .order_by(Ticket.last_called_at.desc())
            .limit(RECENT_CALLS)
        )
    ).all()
    counters = (
        await db.execute(
            sa.select(QueueCounter.id, QueueCounter.number, QueueCounter.name, QueueCounter.open)
            .where(QueueCounter.site_id == site_id)
            .order_by(QueueCounter.number)
        )
    ).all()
    serving = dict(
        (
            await db.execute(
                sa.select(Ticket.counter_id, Ticket.label).where(
                    Ticket.site_id == site_id,
                    Ticket.status.in_([TicketStatus.CALLED, TicketStatus.SERVING]),
                )
            )
        ).all()
    )
    lines = await service_lines(db, site_id, day)
    languages = site.languages.split(",")
    return {
        "site": site_id,
        "languages": languages,
        "texts": {
            code: {key: residents.text(key, code) for key in BOARD_TEXTS} for code in languages
        },
        "at": now.isoformat(),
        "highlight_seconds": settings.highlight_seconds if settings else 10,
        "calls": [
            {
                "ticket": t.id,
                "label": t.label,
                "counter": t.number,
                "counter_id": t.counter_id,
                "status": t.status,
                "at": t.last_called_at.isoformat() if t.last_called_at else None,
            }
            for t in calls
        ],
        "counters": [
            {
                "id": c.id,
                "number": c.number,
                "name": c.name,
                "open": c.open,
                "current": serving.get(c.id),
            }
            for c in counters
        ],
        "services": [
            {
                "prefix": line.service.prefix,
                "names": line.service.names_by_language(),
                "open": line.service.open,
                "waiting": line.waiting,
                "wait_minutes": int(line.wait.total_seconds() // 60),
            }
            for line in lines
        ],
    }


@dataclass(frozen=True)
class PhoneView:
    ticket: Ticket
    ahead: int
    wait: timedelta
    counter: int | None


async def phone_view(db: AsyncSession, public_id: str) -> PhoneView | None:
    """A resident's ticket by its unguessable id, with how many are ahead of it."""
    if not public_id or len(public_id) > 32:
        return None
    ticket = await db.scalar(sa.select(Ticket).where(Ticket.public_id == public_id))
    if ticket is None:
        return None
    ahead = await waiting_before(db, ticket)
    wait = await ticket_wait(db, ticket, ahead)
    return PhoneView(ticket, ahead, wait, ticket.counter.number if ticket.counter else None)


async def ticket_wait(db: AsyncSession, ticket: Ticket, ahead: int) -> timedelta:
    """About how long a waiting ticket with `ahead` tickets before it still waits."""
    if ticket.status != TicketStatus.WAITING:
        return timedelta(0)
    times = await recent_service_times(db, ticket.site_id, ticket.day)
    counters = await open_counters(db, ticket.site_id)
    return estimated_wait(
        ahead + 1, counters.get(ticket.service_id, 0), times.get(ticket.service_id, [])
    )
