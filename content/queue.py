"""Queue-number rules, independent of storage: ticket numbers, which ticket a counter calls
next (the fair rule), and the estimated wait shown to residents.

The fair rule: tickets are called in the order residents joined the queue (a transferred
ticket keeps its place; one transferred to a counter is called only by that counter),
except that priority tickets (for elderly or disabled residents) get one call after every
`normal_per_priority` normal calls while any of them wait. So priority never sinks behind
a long normal queue, and never starves it either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Used while the day has too few finished services to average (a reference value).
DEFAULT_SERVICE_TIME = timedelta(minutes=5)
RECENT_SERVICES = 20


@dataclass(frozen=True)
class Waiting:
    """A ticket waiting to be called."""

    id: int
    service: str
    joined_at: datetime  # when its place in the queue was taken (kept across transfers)
    priority: bool = False
    for_counter: int | None = None  # transferred to this counter: only it calls the ticket


@dataclass(frozen=True)
class FairRule:
    normal_per_priority: int = 3  # after this many normal calls, one priority call

    def __post_init__(self) -> None:
        if self.normal_per_priority < 1:
            raise ValueError("normal_per_priority must be at least 1")


def ticket_number(prefix: str, number: int) -> str:
    """'A', 23 -> 'A-023'; numbers above 999 keep all their digits."""
    return f"{prefix}-{number:03d}"


def next_ticket(
    waiting: Iterable[Waiting],
    services: Iterable[str],
    rule: FairRule,
    normal_since_priority: int,
    counter: int | None = None,
) -> Waiting | None:
    """The ticket a counter serving `services` calls next, or None if nobody waits.

    `normal_since_priority` is how many normal tickets were called since the last priority
    one (the caller keeps this count per site). `counter` is the calling counter: tickets
    transferred to it are its own, tickets transferred to other counters are not.
    """
    allowed = set(services)
    candidates = sorted(
        (
            t
            for t in waiting
            if (t.for_counter is None and t.service in allowed)
            or (t.for_counter is not None and t.for_counter == counter)
        ),
        key=lambda t: (t.joined_at, t.id),
    )
    if not candidates:
        return None
    priority = next((t for t in candidates if t.priority), None)
    normal = next((t for t in candidates if not t.priority), None)
    if priority is None:
        return normal
    if normal is None:
        return priority
    if normal_since_priority >= rule.normal_per_priority:
        return priority
    # A priority ticket that joined before the oldest normal one is simply next in line.
    return priority if (priority.joined_at, priority.id) < (normal.joined_at, normal.id) else normal


def estimated_wait(
    position: int,
    open_counters: int,
    recent_service_times: Sequence[timedelta],
) -> timedelta:
    """About how long a resident at `position` (1 = next) waits: the recent average
    service time x position / open counters, rounded up to whole minutes. A reference
    value, not a promise."""
    if position <= 0:
        return timedelta(0)
    recent = list(recent_service_times)[-RECENT_SERVICES:]
    average = sum(recent, timedelta(0)) / len(recent) if len(recent) >= 3 else DEFAULT_SERVICE_TIME
    counters = max(1, open_counters)
    minutes = average.total_seconds() * position / counters / 60
    return timedelta(minutes=math.ceil(minutes))
