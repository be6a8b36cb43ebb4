"""The ticket transition table (`tickets.TRANSITIONS`) against what each action really
does on a real database, from every status, and against the table in docs/queue.md."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage.errors import Conflict
from signage.models import OPEN_STATUSES, Ticket, TicketStatus, User
from signage.queue import tickets
from signage.queue.tickets import TRANSITIONS, Action

from .test_tickets import Queue, at, scenario

ROOT = Path(__file__).resolve().parent.parent
S = TicketStatus
# These act on the ticket a counter is calling or serving now.
COUNTER_ACTIONS = (
    Action.RECALL,
    Action.START,
    Action.FINISH,
    Action.HOLD,
    Action.NO_SHOW,
    Action.TRANSFER,
)


def _doc_table() -> dict[tuple[TicketStatus, Action], TicketStatus]:
    text = (ROOT / "docs/queue.md").read_text()
    section = text.split("**What each action does to a ticket.**", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    statuses = [TicketStatus(name) for name in rows[0][1:]]
    table: dict[tuple[TicketStatus, Action], TicketStatus] = {}
    for cells in rows[2:]:
        action = Action(cells[0])
        for status, cell in zip(statuses, cells[1:], strict=True):
            if cell != "—":
                table[(status, action)] = TicketStatus(cell)
    assert {a for _, a in table} | {Action(cells[0]) for cells in rows[2:]} == set(Action)
    return table


def test_docs_show_the_table() -> None:
    assert _doc_table() == TRANSITIONS


def test_the_table_fits_the_statuses() -> None:
    # Only open tickets can change; closing takes every open one and nothing else.
    assert {status for status, _ in TRANSITIONS} == set(OPEN_STATUSES)
    assert set(tickets.statuses_for(Action.CLOSE)) == set(OPEN_STATUSES)
    assert {TRANSITIONS[(s, Action.CLOSE)] for s in OPEN_STATUSES} == {S.CLOSED}
    for action in COUNTER_ACTIONS:
        assert set(tickets.statuses_for(action)) <= {S.CALLED, S.SERVING}, action
    assert set(tickets.EFFECTS) == set(Action)


async def _no_recalls_needed(q: Queue) -> None:
    async def work(db: AsyncSession, _: User) -> None:
        settings = await tickets.queue_site(db, q.site_id)
        settings.noshow_after_recalls = 0

    await q.run(work)


async def _bring(q: Queue, status: TicketStatus, minute: int, counter: int = 1) -> Ticket:
    """A new ticket of service A in `status`; called and serving ones at `counter`."""
    ticket = await q.issue("A", at(minute))
    label = ticket.label

    async def call_here(db: AsyncSession, user: User) -> Ticket:
        return await tickets.call_ticket(db, user, "", q.counters[counter], label, now=at(minute))

    async def cancel(db: AsyncSession, user: User) -> Ticket:
        return await tickets.cancel(db, user, "", ticket.id, now=at(minute))

    async def close(db: AsyncSession, _: User) -> Ticket:
        await tickets.close_out(db, q.site_id, at(minute).date(), at(minute))
        closed = await db.get(Ticket, ticket.id)
        assert closed is not None
        return closed

    if status == S.WAITING:
        return ticket
    if status == S.CANCELLED:
        return await q.run(cancel)
    if status == S.CLOSED:
        return await q.run(close)
    called = await q.run(call_here)
    if status == S.CALLED:
        return called
    follow = {S.SERVING: "start", S.HELD: "hold", S.DONE: "finish", S.NO_SHOW: "no_show"}
    return await q.act(follow[status], counter, at(minute))


def _attempt(
    q: Queue, action: Action, ticket: Ticket, minute: int
) -> Callable[[AsyncSession, User], Awaitable[object]]:
    now = at(minute)

    async def work(db: AsyncSession, user: User) -> object:
        if action == Action.CALL:
            return await tickets.call_ticket(db, user, "", q.counters[2], ticket.label, now=now)
        if action == Action.RETURN:
            return await tickets.return_held(db, user, "", q.counters[2], ticket.id, now=now)
        if action == Action.CANCEL:
            return await tickets.cancel(db, user, "", ticket.id, now=now)
        if action == Action.CLOSE:
            return await tickets.close_out(db, q.site_id, now.date(), now)
        function = getattr(tickets, action.value)
        kw = {"service_id": q.services["B"]} if action == Action.TRANSFER else {}
        return await function(db, user, "", q.counters[1], now=now, **kw)

    return work


async def _status_of(q: Queue, ticket_id: int) -> TicketStatus:
    async with q.sessions() as db:
        return TicketStatus(await db.scalar(sa.select(Ticket.status).where(Ticket.id == ticket_id)))


@pytest.mark.parametrize("action", [a for a in Action if a != Action.CLOSE], ids=str)
def test_each_action_follows_the_table_from_every_status(
    action: Action, database_url: str, db: sa.Engine
) -> None:
    statuses = [S.CALLED, S.SERVING] if action in COUNTER_ACTIONS else list(TicketStatus)

    async def body(q: Queue) -> None:
        await _no_recalls_needed(q)
        for minute, status in enumerate(statuses, 1):
            ticket = await _bring(q, status, minute * 10)
            assert await _status_of(q, ticket.id) == status
            after = TRANSITIONS.get((status, action))
            if after is None:
                with pytest.raises(Conflict) as refused:
                    await q.run(_attempt(q, action, ticket, minute * 10 + 1))
                assert refused.value.message != Conflict.default_message, (status, action)
                assert await _status_of(q, ticket.id) == status, (status, action)
            else:
                await q.run(_attempt(q, action, ticket, minute * 10 + 1))
                assert await _status_of(q, ticket.id) == after, (status, action)

    scenario(database_url, db, body)


def test_closing_the_day_follows_the_table(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        await _no_recalls_needed(q)
        made: dict[TicketStatus, Ticket] = {}
        # Finished ones first (bringing one to "closed" closes all that are open), and
        # the called one at counter 2, so that calling at counter 1 does not finish it.
        for minute, (status, counter) in enumerate(
            [(S.DONE, 1), (S.NO_SHOW, 1), (S.CANCELLED, 1), (S.CLOSED, 1), (S.WAITING, 1),
             (S.HELD, 1), (S.SERVING, 1), (S.CALLED, 2)]
        ):  # fmt: skip
            made[status] = await _bring(q, status, minute, counter)
        for status, ticket in made.items():
            assert await _status_of(q, ticket.id) == status
        await q.run(_attempt(q, Action.CLOSE, made[S.WAITING], 59))
        for status, ticket in made.items():
            expected = TRANSITIONS.get((status, Action.CLOSE), status)
            assert await _status_of(q, ticket.id) == expected, status

    scenario(database_url, db, body)
