"""Queue statistics: waiting, walk-to-counter and service times, no-shows, per service,
counter and hour, from the tickets themselves.

- wait: from issue to the first call
- walk: from the last call to the start of service (long walks mean missed calls)
- service: from start to finish
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import mean, median
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage.models import QueueCounter, QueueService, Site, Ticket, TicketStatus

MAX_DAYS = 93


@dataclass
class Group:
    """Counts and times (in seconds) of one service, counter or hour."""

    key: str
    issued: int = 0
    served: int = 0
    no_shows: int = 0
    cancelled: int = 0
    closed: int = 0
    waits: list[float] = field(default_factory=list)
    walks: list[float] = field(default_factory=list)
    services: list[float] = field(default_factory=list)

    def add(self, ticket: Ticket) -> None:
        self.issued += 1
        status = ticket.status
        self.served += status == TicketStatus.DONE
        self.no_shows += status == TicketStatus.NO_SHOW
        self.cancelled += status == TicketStatus.CANCELLED
        self.closed += status == TicketStatus.CLOSED
        times = ticket_times(ticket)
        for name, values in (
            ("wait", self.waits),
            ("walk", self.walks),
            ("service", self.services),
        ):
            if times[name] is not None:
                values.append(times[name])  # type: ignore[arg-type]

    @staticmethod
    def _minutes(values: list[float], how: str = "mean") -> float | None:
        if not values:
            return None
        return round((mean(values) if how == "mean" else median(values)) / 60, 1)

    @property
    def wait_avg(self) -> float | None:
        return self._minutes(self.waits)

    @property
    def wait_median(self) -> float | None:
        return self._minutes(self.waits, "median")

    @property
    def walk_avg(self) -> float | None:
        return self._minutes(self.walks)

    @property
    def service_avg(self) -> float | None:
        return self._minutes(self.services)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def ticket_times(ticket: Ticket) -> dict[str, float | None]:
    return {
        "wait": _seconds(ticket.issued_at, ticket.called_at),
        "walk": _seconds(ticket.last_called_at, ticket.started_at),
        "service": _seconds(ticket.started_at, ticket.finished_at),
    }


@dataclass
class Report:
    first: date
    last: date
    total: Group
    by_service: list[Group]
    by_counter: list[Group]
    by_hour: list[Group]


def clamp_range(first: date, last: date) -> tuple[date, date]:
    if last < first:
        first, last = last, first
    if (last - first).days >= MAX_DAYS:
        first = last - timedelta(days=MAX_DAYS - 1)
    return first, last


async def tickets_between(db: AsyncSession, site_id: int, first: date, last: date) -> list[Ticket]:
    return list(
        await db.scalars(
            sa.select(Ticket)
            .where(Ticket.site_id == site_id, Ticket.day >= first, Ticket.day <= last)
            .order_by(Ticket.day, Ticket.issued_at, Ticket.id)
        )
    )


async def report(db: AsyncSession, site: Site, first: date, last: date) -> Report:
    first, last = clamp_range(first, last)
    rows = await tickets_between(db, site.id, first, last)
    services = {
        s.id: s
        for s in await db.scalars(sa.select(QueueService).where(QueueService.site_id == site.id))
    }
    counters = {
        c.id: c
        for c in await db.scalars(sa.select(QueueCounter).where(QueueCounter.site_id == site.id))
    }
    zone = ZoneInfo(site.timezone)
    total = Group("all")
    by_service = {sid: Group(f"{s.prefix} {s.name}") for sid, s in services.items()}
    by_counter = {cid: Group(str(c.number)) for cid, c in counters.items()}
    by_hour: dict[int, Group] = {}
    for ticket in rows:
        total.add(ticket)
        by_service.setdefault(ticket.service_id, Group(str(ticket.service_id))).add(ticket)
        if ticket.counter_id is not None:
            by_counter.setdefault(ticket.counter_id, Group(str(ticket.counter_id))).add(ticket)
        hour = ticket.issued_at.astimezone(zone).hour
        by_hour.setdefault(hour, Group(f"{hour:02d}:00")).add(ticket)
    return Report(
        first,
        last,
        total,
        [
            by_service[k]
            for k in sorted(by_service, key=lambda i: services[i].position if i in services else 0)
        ],
        [
            by_counter[k]
            for k in sorted(by_counter, key=lambda i: counters[i].number if i in counters else 0)
        ],
        [by_hour[h] for h in sorted(by_hour)],
    )


CSV_COLUMNS = (
    "day", "number", "service", "priority", "source", "status", "counter", "issued_at",
    "called_at", "started_at", "finished_at", "recalls", "wait_seconds", "walk_seconds",
    "service_seconds",
)  # fmt: skip


def to_csv(site: Site, rows: Iterable[Ticket]) -> str:
    """One line per ticket, times in the site's time zone."""
    zone = ZoneInfo(site.timezone)

    def local(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for ticket in rows:
        times = ticket_times(ticket)
        writer.writerow(
            [
                ticket.day.isoformat(),
                ticket.label,
                ticket.service.prefix,
                int(ticket.priority),
                ticket.source,
                ticket.status,
                ticket.counter.number if ticket.counter else "",
                local(ticket.issued_at),
                local(ticket.called_at),
                local(ticket.started_at),
                local(ticket.finished_at),
                ticket.recalls,
                *(
                    "" if times[k] is None else int(times[k] or 0)
                    for k in ("wait", "walk", "service")
                ),
            ]
        )
    return out.getvalue()
