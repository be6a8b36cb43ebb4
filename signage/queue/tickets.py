"""Tickets: issuing numbers, and everything a counter does with them.

Every change at a site takes the site's `queue_sites` row first (`SELECT ... FOR UPDATE`
on PostgreSQL; on SQLite every write transaction is already one at a time), so two
counters pressing "call next" at the same instant get two different tickets, and two
kiosk taps with the same request id get one ticket. What screens must hear (a call, a
changed board) is handed to the announcer only after the change commits.

Statuses: waiting -> called -> serving -> done, with recall (called again), hold and
return, transfer (back to waiting, keeping its place), no-show (after the set number of
recalls), cancel (staff), and closed (still open when the office closed: counted).
`TRANSITIONS` is the one table of which action leads from which status to which; every
action asks it (`_move`), and anything not in it is refused with a 409. `docs/queue.md`
shows the table.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.protocol import AudioClip, CallEvent
from content.queue import FairRule, Waiting, next_ticket, ticket_number
from signage import audit, changes, scope, webhooks
from signage.db import utcnow
from signage.errors import Conflict, NotFound
from signage.i18n import N_
from signage.models import (
    QueueCounter,
    QueueService,
    QueueSite,
    Site,
    Ticket,
    TicketStatus,
    User,
)
from signage.permissions import Permission, require

ANY = None  # `expected`: do not check what the counter has now
LABEL = re.compile(r"^\s*([A-Za-z]{1,3})\s*-?\s*0*(\d{1,4})\s*$")


class Action(enum.StrEnum):
    """What can happen to a ticket after it is issued."""

    CALL = "call"  # call next, or call a given number
    RECALL = "recall"  # call the counter's ticket again
    START = "start"  # the resident has arrived at the counter
    FINISH = "finish"  # served (also: calling another number finishes the current one)
    HOLD = "hold"  # put aside; any counter can call it back
    NO_SHOW = "no_show"  # did not come after the set number of recalls
    TRANSFER = "transfer"  # back in line for another service or counter
    RETURN = "return"  # a held ticket called back to a counter
    CANCEL = "cancel"  # taken out of the queue by staff
    CLOSE = "close"  # still open when the office closed


_WAITING, _CALLED, _SERVING, _HELD = (
    TicketStatus.WAITING,
    TicketStatus.CALLED,
    TicketStatus.SERVING,
    TicketStatus.HELD,
)

# (status now, action) -> status after. Nothing else is allowed.
TRANSITIONS: dict[tuple[TicketStatus, Action], TicketStatus] = {
    (_WAITING, Action.CALL): _CALLED,
    (_HELD, Action.CALL): _CALLED,
    (_CALLED, Action.RECALL): _CALLED,
    (_CALLED, Action.START): _SERVING,
    (_CALLED, Action.FINISH): TicketStatus.DONE,
    (_SERVING, Action.FINISH): TicketStatus.DONE,
    (_CALLED, Action.HOLD): _HELD,
    (_SERVING, Action.HOLD): _HELD,
    (_CALLED, Action.NO_SHOW): TicketStatus.NO_SHOW,
    (_CALLED, Action.TRANSFER): _WAITING,
    (_SERVING, Action.TRANSFER): _WAITING,
    (_HELD, Action.RETURN): _CALLED,
    (_WAITING, Action.CANCEL): TicketStatus.CANCELLED,
    (_HELD, Action.CANCEL): TicketStatus.CANCELLED,
    (_WAITING, Action.CLOSE): TicketStatus.CLOSED,
    (_CALLED, Action.CLOSE): TicketStatus.CLOSED,
    (_SERVING, Action.CLOSE): TicketStatus.CLOSED,
    (_HELD, Action.CLOSE): TicketStatus.CLOSED,
}


def statuses_for(action: Action) -> list[TicketStatus]:
    """The statuses from which `action` is allowed, in the order of `TicketStatus`."""
    return [status for status in TicketStatus if (status, action) in TRANSITIONS]


_BEING_SERVED = N_("%(label)s is already being served.")
_AT_THIS_COUNTER = N_("%(label)s is already at this counter.")
_AT_ANOTHER_COUNTER = N_("%(label)s is already at another counter.")
_NO_CURRENT = N_("This counter has no ticket called now.")
_FINISHED = {
    TicketStatus.DONE: N_("%(label)s has already been served."),
    TicketStatus.NO_SHOW: N_("%(label)s was marked as a no-show."),
    TicketStatus.CANCELLED: N_("%(label)s was cancelled."),
    TicketStatus.CLOSED: N_("%(label)s was closed at the end of the day."),
}
# Why an action is refused: for one status (status, action), else for any (None, action).
_REFUSALS: dict[tuple[TicketStatus | None, Action], str] = {
    **{(status, Action.CALL): message for status, message in _FINISHED.items()},
    (_CALLED, Action.CALL): _AT_THIS_COUNTER,
    (_SERVING, Action.CALL): _AT_THIS_COUNTER,
    (None, Action.RECALL): _BEING_SERVED,
    (None, Action.START): _BEING_SERVED,
    (None, Action.NO_SHOW): _BEING_SERVED,
    (None, Action.FINISH): _NO_CURRENT,
    (None, Action.HOLD): _NO_CURRENT,
    (None, Action.TRANSFER): _NO_CURRENT,
    (None, Action.RETURN): N_("%(label)s is not on hold."),
    (None, Action.CANCEL): N_("Only waiting or held tickets can be cancelled."),
    **{(status, Action.CLOSE): message for status, message in _FINISHED.items()},
}


@dataclass(frozen=True)
class _At:
    """What an action's effect needs: who does it, when, and at which counter."""

    user: User
    now: datetime
    counter: QueueCounter | None = None


def _calls(ticket: Ticket, at: _At) -> None:
    assert at.counter is not None
    ticket.counter_id = at.counter.id
    ticket.counter = at.counter
    ticket.for_counter_id = None
    ticket.served_by = at.user.id
    ticket.last_called_at = at.now
    if ticket.called_at is None:  # the wait ends at the first call, whatever follows
        ticket.called_at = at.now


def _recalls(ticket: Ticket, at: _At) -> None:
    ticket.recalls += 1
    ticket.last_called_at = at.now


def _starts(ticket: Ticket, at: _At) -> None:
    ticket.started_at = at.now


def _ends(ticket: Ticket, at: _At) -> None:
    ticket.finished_at = at.now


def _holds(ticket: Ticket, at: _At) -> None:
    """A held ticket keeps its counter and recalls until a counter calls it back."""


def _back_in_line(ticket: Ticket, at: _At) -> None:
    # The next counter calls it afresh: its own recalls, and service timed from its start.
    ticket.counter_id = None
    ticket.recalls = 0
    ticket.started_at = None


def _returns(ticket: Ticket, at: _At) -> None:
    ticket.recalls = 0  # recalls count at the counter that calls it now
    _calls(ticket, at)


# What each action does besides changing the status.
EFFECTS: dict[Action, Callable[[Ticket, _At], None]] = {
    Action.CALL: _calls,
    Action.RECALL: _recalls,
    Action.START: _starts,
    Action.FINISH: _ends,
    Action.HOLD: _holds,
    Action.NO_SHOW: _ends,
    Action.TRANSFER: _back_in_line,
    Action.RETURN: _returns,
    Action.CANCEL: _ends,
    Action.CLOSE: _ends,  # `close_out` does the same for many tickets in one UPDATE
}


def _check(ticket: Ticket, action: Action, counter: QueueCounter | None = None) -> TicketStatus:
    """The status `action` leads `ticket` to; a 409 saying why if the table has no way."""
    status = TicketStatus(ticket.status)
    after = TRANSITIONS.get((status, action))
    if after is not None:
        return after
    message = _REFUSALS.get((status, action)) or _REFUSALS[(None, action)]
    if message == _AT_THIS_COUNTER and (counter is None or ticket.counter_id != counter.id):
        message = _AT_ANOTHER_COUNTER
    raise Conflict(message, label=ticket.label)


def _move(ticket: Ticket, action: Action, at: _At) -> None:
    """Do `action` to `ticket` as the table allows: its new status, then its effect."""
    ticket.status = _check(ticket, action, at.counter)
    EFFECTS[action](ticket, at)


@dataclass(frozen=True)
class Call:
    """A call as screens get it: plain values, taken before the transaction commits."""

    site_id: int
    ticket_id: int
    label: str
    prefix: str
    number: int
    service: str
    service_names: dict[str, str]
    counter_id: int
    counter: int
    counter_name: str
    at: datetime
    recall: bool = False
    voice_languages: tuple[str, ...] = ()
    highlight_seconds: int = 10

    def event(
        self, audio: list[AudioClip] | None = None, texts: dict[str, str] | None = None
    ) -> CallEvent:
        """The `queue.call` event, with what to play (nothing: a call without sound)."""
        return {
            "kind": "queue.call",
            "ticket": self.ticket_id,
            "label": self.label,
            "service": self.service,
            "service_names": self.service_names,
            "counter": self.counter,
            "counter_id": self.counter_id,
            "counter_name": self.counter_name,
            "recall": self.recall,
            "at": self.at.isoformat(),
            "highlight_seconds": self.highlight_seconds,
            "audio": audio or [],
            "texts": texts or {},
        }


@dataclass
class Issued:
    ticket: Ticket
    created: bool  # False: a repeated request, answered with the ticket it made before
    waiting_before: int = 0


def _after_commit_call(db: AsyncSession, call: Call) -> None:
    changes.record(db, changes.TicketCalled(call))
    webhooks.queue_called(db, call)  # only a row in the outbox: a call never waits for it


def changed(db: AsyncSession, site_id: int) -> None:
    """Boards and phone views of this site show something new once this commits."""
    changes.record(db, changes.QueueChanged(site_id))


def local_today(site: Site, now: datetime) -> date:
    return now.astimezone(ZoneInfo(site.timezone)).date()


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def is_open_hours(site: Site, settings: QueueSite, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(site.timezone)).time()
    return parse_hhmm(settings.opens_at) <= local < parse_hhmm(settings.closes_at)


async def queue_site(db: AsyncSession, site_id: int, *, lock: bool = True) -> QueueSite:
    """The site's queue settings; with `lock`, held until the transaction ends."""
    query = sa.select(QueueSite).where(QueueSite.site_id == site_id)
    if lock:
        # Read the row again once it is ours: the session may hold an older copy.
        query = query.with_for_update().execution_options(populate_existing=True)
    settings = await db.scalar(query)
    if settings is None:
        if await db.get(Site, site_id) is None:
            raise NotFound(N_("This site does not exist."))
        settings = QueueSite(site_id=site_id)
        db.add(settings)
        await db.flush()
    return settings


async def close_out(db: AsyncSession, site_id: int, through: date, now: datetime) -> int:
    """Close every ticket of the site still open from `through` or before; returns how
    many. They stay in the statistics as closed, never lost."""
    # The table's CLOSE rows, and their effect (`_ends`), as one UPDATE.
    result = await db.execute(
        sa.update(Ticket)
        .where(
            Ticket.site_id == site_id,
            Ticket.day <= through,
            Ticket.status.in_([s.value for s in statuses_for(Action.CLOSE)]),
        )
        .values(status=TRANSITIONS[(_WAITING, Action.CLOSE)], finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def begin(db: AsyncSession, site_id: int, now: datetime) -> tuple[Site, QueueSite]:
    """Lock the site's queue and start a new day if its date has changed (yesterday's
    open tickets are closed out; numbers start at 1 again)."""
    settings = await queue_site(db, site_id)
    site = await db.get(Site, site_id)
    assert site is not None
    today = local_today(site, now)
    if settings.day != today:
        if settings.day is not None:
            await close_out(db, site_id, today - timedelta(days=1), now)
        settings.day = today
        settings.normal_since_priority = 0
        changed(db, site_id)
    return site, settings


async def day_boundaries(db: AsyncSession, now: datetime) -> dict[int, str]:
    """At each site's opening time start the day (numbers from 1, yesterday's leftovers
    closed out); at closing time close out what is still open. Idempotent: run it every
    minute. Returns what it did per site ("opened" or "closed")."""
    done: dict[int, str] = {}
    site_ids = list(await db.scalars(sa.select(QueueSite.site_id)))
    for site_id in site_ids:
        settings = await queue_site(db, site_id, lock=False)
        site = await db.get(Site, site_id)
        if site is None:
            continue
        local = now.astimezone(ZoneInfo(site.timezone))
        today = local.date()
        if not _boundary_due(settings, local):
            continue
        # Due at a first look: lock the site and look again, so that a run at the same
        # moment elsewhere (a ticket issued, a second scheduler) is never repeated.
        settings = await queue_site(db, site_id)
        if settings.day != today and local.time() >= parse_hhmm(settings.opens_at):
            await begin(db, site_id, now)
            done[site_id] = "opened"
        if settings.closed_day != today and local.time() >= parse_hhmm(settings.closes_at):
            closed = await close_out(db, site_id, today, now)
            settings.closed_day = today
            if closed:
                changed(db, site_id)
            done[site_id] = "closed"
    return done


def _boundary_due(settings: QueueSite, local: datetime) -> bool:
    today, at = local.date(), local.time()
    return (settings.day != today and at >= parse_hhmm(settings.opens_at)) or (
        settings.closed_day != today and at >= parse_hhmm(settings.closes_at)
    )


def _check_caller(user: User) -> None:
    """Only callers act on tickets; the site was checked when the counter was looked up."""
    require(
        user, Permission.WORK_COUNTER, N_("Only counter staff and publishers can call tickets.")
    )


async def get_counter(db: AsyncSession, user: User, counter_id: int) -> QueueCounter:
    return await scope.get(db, user, QueueCounter, counter_id)


async def current_ticket(db: AsyncSession, counter_id: int) -> Ticket | None:
    """The ticket a counter is calling or serving now."""
    return await db.scalar(
        sa.select(Ticket)
        .where(
            Ticket.counter_id == counter_id,
            Ticket.status.in_([TicketStatus.CALLED, TicketStatus.SERVING]),
        )
        .order_by(Ticket.last_called_at.desc())
        .limit(1)
    )


# --- issuing --------------------------------------------------------------------------


async def issue(
    db: AsyncSession,
    *,
    site_id: int,
    service_id: int,
    priority: bool = False,
    language: str = "ja",
    source: str = "staff",
    request_key: str | None = None,
    actor: User | None = None,
    actor_name: str = "",
    ip: str = "",
    now: datetime | None = None,
) -> Issued:
    """Give a resident the next number of a service. A repeated `request_key` (a double
    tap, a retried request) returns the ticket the first request made."""
    now = now or utcnow()
    site, settings = await begin(db, site_id, now)
    if request_key:
        existing = await db.scalar(
            sa.select(Ticket).where(Ticket.site_id == site_id, Ticket.request_key == request_key)
        )
        if existing is not None:
            return Issued(existing, False, await waiting_before(db, existing))
    # Read after the lock: another transaction may have just taken the next number.
    service = await db.get(QueueService, service_id, populate_existing=True)
    if service is None or service.site_id != site_id:
        raise NotFound(N_("This service does not exist."))
    if not service.open:
        raise Conflict(N_("This service is not taking numbers now."))
    today = local_today(site, now)
    if service.sequence_day != today:
        service.sequence_day, service.last_number = today, 0
    service.last_number += 1
    ticket = Ticket(
        site_id=site_id,
        service_id=service.id,
        day=today,
        number=service.last_number,
        label=ticket_number(service.prefix, service.last_number),
        priority=priority,
        status=TicketStatus.WAITING,
        source=source,
        language=language,
        public_id=secrets.token_urlsafe(18),
        request_key=request_key or None,
        issued_at=now,
        joined_at=now,
    )
    db.add(ticket)
    await db.flush()
    ticket.service = service
    audit.record(
        db,
        actor,
        "ticket.issue",
        "ticket",
        ticket.id,
        ticket.label,
        after=ticket.audit_view() | {"source": source},
        ip=ip,
        actor_name=actor_name,
    )
    webhooks.ticket_changed(db, ticket, "issue")
    # Say the number once now, so its call sounds the moment it appears.
    changes.record(
        db,
        changes.TicketIssued(site_id, service.prefix, ticket.number, _voice_languages(settings)),
    )
    return Issued(ticket, True, await waiting_before(db, ticket))


def _voice_languages(settings: QueueSite) -> tuple[str, ...]:
    return tuple(code for code in settings.voice_languages.split(",") if code)


async def waiting_before(db: AsyncSession, ticket: Ticket) -> int:
    """How many tickets of the same service are ahead of this one in the queue."""
    if ticket.status != TicketStatus.WAITING:
        return 0
    count = await db.scalar(
        sa.select(sa.func.count())
        .select_from(Ticket)
        .where(
            Ticket.service_id == ticket.service_id,
            Ticket.status == TicketStatus.WAITING,
            Ticket.for_counter_id.is_(None),
            sa.or_(
                Ticket.joined_at < ticket.joined_at,
                sa.and_(Ticket.joined_at == ticket.joined_at, Ticket.id < ticket.id),
            ),
        )
    )
    return int(count or 0)


# --- calling --------------------------------------------------------------------------


def _call_of(ticket: Ticket, counter: QueueCounter, settings: QueueSite, recall: bool) -> Call:
    service = ticket.service
    assert ticket.last_called_at is not None
    return Call(
        site_id=ticket.site_id,
        ticket_id=ticket.id,
        label=ticket.label,
        prefix=service.prefix,
        number=ticket.number,
        service=service.name,
        service_names=service.names_by_language(),
        counter_id=counter.id,
        counter=counter.number,
        counter_name=counter.name,
        at=ticket.last_called_at,
        recall=recall,
        voice_languages=_voice_languages(settings),
        highlight_seconds=settings.highlight_seconds,
    )


def _record(
    db: AsyncSession, user: User, ip: str, action: str, ticket: Ticket, before: dict[str, Any]
) -> None:
    audit.record(
        db,
        user,
        action,
        "ticket",
        ticket.id,
        ticket.label,
        before=before,
        after=ticket.audit_view(),
        ip=ip,
    )
    webhooks.ticket_changed(db, ticket, action.removeprefix("ticket."))


def _saved(
    db: AsyncSession, user: User, ip: str, action: str, ticket: Ticket, before: dict[str, Any]
) -> None:
    """Audit a counter action on a ticket; the site's boards show it once it commits."""
    _record(db, user, ip, action, ticket, before)
    changed(db, ticket.site_id)


def waiting_for(counter: QueueCounter) -> sa.ColumnElement[bool]:
    """Waiting tickets this counter may call: of its services, or sent to it."""
    return sa.and_(
        Ticket.site_id == counter.site_id,
        Ticket.status == TicketStatus.WAITING,
        sa.or_(
            sa.and_(
                Ticket.for_counter_id.is_(None),
                Ticket.service_id.in_([s.id for s in counter.services]),
            ),
            Ticket.for_counter_id == counter.id,
        ),
    )


def _finish(db: AsyncSession, user: User, ip: str, current: Ticket | None, now: datetime) -> None:
    """Calling another number ends what the counter was doing: the resident was served."""
    if current is not None:
        before = current.audit_view()
        _move(current, Action.FINISH, _At(user, now))
        _record(db, user, ip, "ticket.finish", current, before)


async def call_next(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    now: datetime | None = None,
    expected: str | None = ANY,
) -> Ticket:
    """Call the next ticket for this counter by the fair rule."""
    now = now or utcnow()
    counter = await get_counter(db, user, counter_id)
    _check_caller(user)
    _, settings = await begin(db, counter.site_id, now)
    current = await current_ticket(db, counter.id)
    _check_expected(current, expected)
    prefixes = {s.id: s.prefix for s in counter.services}
    # Only the columns the rule needs, and only tickets this counter may call.
    rows = await db.execute(
        sa.select(
            Ticket.id, Ticket.service_id, Ticket.joined_at, Ticket.priority, Ticket.for_counter_id
        ).where(waiting_for(counter))
    )
    waiting = [
        Waiting(row.id, prefixes.get(row.service_id, f"#{row.service_id}"), row.joined_at,
                row.priority, row.for_counter_id)
        for row in rows
    ]  # fmt: skip
    chosen = next_ticket(
        waiting,
        set(prefixes.values()),
        FairRule(settings.normal_per_priority),
        settings.normal_since_priority,
        counter=counter.id,
    )
    if chosen is None:
        raise Conflict(N_("Nobody is waiting for this counter's services."))
    _finish(db, user, ip, current, now)
    ticket = await db.get(Ticket, chosen.id)
    assert ticket is not None
    if ticket.priority:
        settings.normal_since_priority = 0
    else:
        settings.normal_since_priority += 1
    before = ticket.audit_view()
    _move(ticket, Action.CALL, _At(user, now, counter))
    counter.open = True
    _record(db, user, ip, "ticket.call", ticket, before)
    _after_commit_call(db, _call_of(ticket, counter, settings, recall=False))
    changed(db, counter.site_id)
    return ticket


async def find_ticket(db: AsyncSession, site: Site, label: str, now: datetime) -> Ticket:
    """Today's ticket with this number ("A-023", "a23", "A 23")."""
    match = LABEL.match(label or "")
    if match is None:
        raise NotFound(N_("Enter a ticket number such as A-023."))
    prefix, number = match.group(1).upper(), int(match.group(2))
    ticket = await db.scalar(
        sa.select(Ticket).where(
            Ticket.site_id == site.id,
            Ticket.day == local_today(site, now),
            Ticket.label == ticket_number(prefix, number),
        )
    )
    if ticket is None:
        raise NotFound(
            N_("There is no ticket %(label)s today."), label=ticket_number(prefix, number)
        )
    return ticket


async def call_ticket(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    label: str,
    now: datetime | None = None,
) -> Ticket:
    """Call a given number out of order (a waiting or held ticket)."""
    now = now or utcnow()
    counter = await get_counter(db, user, counter_id)
    _check_caller(user)
    site, settings = await begin(db, counter.site_id, now)
    ticket = await find_ticket(db, site, label, now)
    _check(ticket, Action.CALL, counter)  # before the counter's current ticket is finished
    _finish(db, user, ip, await current_ticket(db, counter.id), now)
    before = ticket.audit_view()
    _move(ticket, Action.CALL, _At(user, now, counter))
    counter.open = True
    _record(db, user, ip, "ticket.call", ticket, before)
    _after_commit_call(db, _call_of(ticket, counter, settings, recall=False))
    changed(db, counter.site_id)
    return ticket


def state_token(current: Ticket | None) -> str:
    """What a console shows of its counter's ticket, as sent back with each button."""
    return f"{current.id}.{current.status}.{current.recalls}" if current else "none"


def _check_expected(current: Ticket | None, expected: str | None) -> None:
    """A console says what it showed when the button was pressed; if the counter has
    moved on since (a double click, a second window), nothing is done."""
    if expected is ANY:
        return
    if state_token(current) != expected:
        raise Conflict(
            N_("The counter's ticket changed since this page was shown. Check it and try again.")
        )


async def _current_or_error(
    db: AsyncSession, counter: QueueCounter, expected: str | None = ANY
) -> Ticket:
    ticket = await current_ticket(db, counter.id)
    _check_expected(ticket, expected)
    if ticket is None:
        raise Conflict(N_("This counter has no ticket called now."))
    return ticket


async def recall(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    now: datetime | None = None,
    expected: str | None = ANY,
) -> Ticket:
    """Call the counter's current ticket again (screens and voice)."""
    now = now or utcnow()
    counter = await get_counter(db, user, counter_id)
    _check_caller(user)
    _, settings = await begin(db, counter.site_id, now)
    ticket = await _current_or_error(db, counter, expected)
    before = ticket.audit_view()
    _move(ticket, Action.RECALL, _At(user, now, counter))
    _record(db, user, ip, "ticket.recall", ticket, before)
    _after_commit_call(db, _call_of(ticket, counter, settings, recall=True))
    changed(db, counter.site_id)
    return ticket


async def _counter_action(
    db: AsyncSession, user: User, counter_id: int, now: datetime, expected: str | None
) -> tuple[QueueCounter, QueueSite, Ticket]:
    counter = await get_counter(db, user, counter_id)
    _check_caller(user)
    _, settings = await begin(db, counter.site_id, now)
    return counter, settings, await _current_or_error(db, counter, expected)


async def _step(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    action: Action,
    now: datetime | None,
    expected: str | None,
) -> Ticket:
    """An action on the counter's current ticket that the table alone decides."""
    now = now or utcnow()
    counter, _, ticket = await _counter_action(db, user, counter_id, now, expected)
    before = ticket.audit_view()
    _move(ticket, action, _At(user, now, counter))
    _saved(db, user, ip, f"ticket.{action.value}", ticket, before)
    return ticket


async def start(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    now: datetime | None = None,
    expected: str | None = ANY,
) -> Ticket:
    """The resident has arrived at the counter."""
    return await _step(db, user, ip, counter_id, Action.START, now, expected)


async def finish(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    now: datetime | None = None,
    expected: str | None = ANY,
) -> Ticket:
    return await _step(db, user, ip, counter_id, Action.FINISH, now, expected)


async def hold(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    now: datetime | None = None,
    expected: str | None = ANY,
) -> Ticket:
    """Put the current ticket aside (the resident fetches a document); any counter can
    call it back later."""
    return await _step(db, user, ip, counter_id, Action.HOLD, now, expected)


async def no_show(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    now: datetime | None = None,
    expected: str | None = ANY,
) -> Ticket:
    """The resident did not come after the set number of recalls."""
    now = now or utcnow()
    counter, settings, ticket = await _counter_action(db, user, counter_id, now, expected)
    _check(ticket, Action.NO_SHOW, counter)
    if ticket.recalls < settings.noshow_after_recalls:
        raise Conflict(
            N_("Call %(label)s again first: a no-show needs %(count)s recalls."),
            label=ticket.label,
            count=settings.noshow_after_recalls,
        )
    before = ticket.audit_view()
    _move(ticket, Action.NO_SHOW, _At(user, now, counter))
    _saved(db, user, ip, "ticket.no_show", ticket, before)
    return ticket


async def transfer(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    *,
    service_id: int | None = None,
    to_counter_id: int | None = None,
    now: datetime | None = None,
    expected: str | None = ANY,
) -> Ticket:
    """Send the current ticket to another service's queue or to one counter; it keeps
    its number and its place (the time it first joined)."""
    now = now or utcnow()
    counter, _, ticket = await _counter_action(db, user, counter_id, now, expected)
    if (service_id is None) == (to_counter_id is None):
        raise Conflict(N_("Choose a service or a counter to transfer to."))
    before = ticket.audit_view()
    if service_id is not None:
        service = await scope.get(db, user, QueueService, service_id, site=counter.site_id)
        if not service.open:
            raise Conflict(N_("%(service)s is closed now. Choose another."), service=service.name)
        ticket.service_id = service.id
        ticket.service = service
        ticket.for_counter_id = None
    else:
        target = await scope.get(db, user, QueueCounter, to_counter_id, site=counter.site_id)
        if target.id == counter.id:
            raise Conflict(N_("The ticket is already at this counter."))
        if not target.open:
            raise Conflict(N_("Counter %(number)s is closed now."), number=target.number)
        ticket.for_counter_id = target.id
    _move(ticket, Action.TRANSFER, _At(user, now, counter))
    _saved(db, user, ip, "ticket.transfer", ticket, before)
    return ticket


async def return_held(
    db: AsyncSession,
    user: User,
    ip: str,
    counter_id: int,
    ticket_id: int,
    now: datetime | None = None,
) -> Ticket:
    """Call a held ticket back, to this counter."""
    now = now or utcnow()
    counter = await get_counter(db, user, counter_id)
    _check_caller(user)
    _, settings = await begin(db, counter.site_id, now)
    ticket = await scope.get(db, user, Ticket, ticket_id, site=counter.site_id)
    _check(ticket, Action.RETURN, counter)  # before the counter's current ticket is finished
    _finish(db, user, ip, await current_ticket(db, counter.id), now)
    before = ticket.audit_view()
    _move(ticket, Action.RETURN, _At(user, now, counter))
    counter.open = True
    _record(db, user, ip, "ticket.return", ticket, before)
    _after_commit_call(db, _call_of(ticket, counter, settings, recall=True))
    changed(db, counter.site_id)
    return ticket


async def cancel(
    db: AsyncSession,
    user: User,
    ip: str,
    ticket_id: int,
    now: datetime | None = None,
    *,
    site: int | scope.Anywhere = scope.ANYWHERE,
) -> Ticket:
    """Take a waiting or held ticket (of `site`, the counter's) out of the queue (the
    resident has left)."""
    now = now or utcnow()
    ticket = await scope.get(db, user, Ticket, ticket_id, site=site)
    _check_caller(user)
    await begin(db, ticket.site_id, now)
    await db.refresh(ticket)
    before = ticket.audit_view()
    _move(ticket, Action.CANCEL, _At(user, now))
    _saved(db, user, ip, "ticket.cancel", ticket, before)
    return ticket


async def set_counter_open(
    db: AsyncSession, user: User, ip: str, counter_id: int, open_: bool
) -> QueueCounter:
    counter = await get_counter(db, user, counter_id)
    _check_caller(user)
    await queue_site(db, counter.site_id)
    if counter.open != open_:
        before = counter.audit_view()
        counter.open = open_
        audit.record(
            db,
            user,
            "counter.open" if open_ else "counter.close",
            "counter",
            counter.id,
            counter.name or str(counter.number),
            before=before,
            after=counter.audit_view(),
            ip=ip,
        )
        changed(db, counter.site_id)
    return counter
