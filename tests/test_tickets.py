"""Tickets on a real database: numbering, the fair rule, every counter action, bad input
that leaves the queue as it was, and concurrent callers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signage.db import create_engine, session_factory, transaction
from signage.errors import Conflict, Forbidden, HTTPError, NotFound
from signage.models import QueueCounter, QueueService, QueueSite, Role, Ticket, User
from signage.queue import counters, tickets

from .conftest import PG_URL, add_site, add_user

T = TypeVar("T")
TOKYO = ZoneInfo("Asia/Tokyo")
MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=TOKYO)


class Queue:
    """A site with services A (住民票) and B (税), counter 1 for A, counter 2 for A and B."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], site_id: int) -> None:
        self.sessions = sessions
        self.site_id = site_id
        self.services: dict[str, int] = {}
        self.counters: dict[int, int] = {}

    async def run(self, work: Callable[[AsyncSession, User], Awaitable[T]]) -> T:
        async with transaction(self.sessions) as db:
            user = await db.scalar(sa.select(User).where(User.username == "chief"))
            assert user is not None
            return await work(db, user)

    async def setup(self) -> None:
        async def build(db: AsyncSession, user: User) -> None:
            for prefix, name in (("A", "住民票"), ("B", "税")):
                service = await counters.create_service(
                    db, user, "", self.site_id, counters.ServiceInput(prefix, name, name + " en")
                )
                self.services[prefix] = service.id
            for number, names in ((1, ["A"]), (2, ["A", "B"])):
                counter = await counters.create_counter(
                    db,
                    user,
                    "",
                    self.site_id,
                    counters.CounterInput(number, f"{number}番", [self.services[n] for n in names]),
                )
                self.counters[number] = counter.id

        await self.run(build)

    async def issue(self, prefix: str, at: datetime, priority: bool = False, **kw: Any) -> Ticket:
        async def work(db: AsyncSession, _: User) -> Ticket:
            issued = await tickets.issue(
                db,
                site_id=self.site_id,
                service_id=self.services[prefix],
                priority=priority,
                now=at,
                **kw,
            )
            return issued.ticket

        return await self.run(work)

    async def act(self, action: str, counter: int, at: datetime, **kw: Any) -> Ticket:
        function = getattr(tickets, action)

        async def work(db: AsyncSession, user: User) -> Ticket:
            result: Ticket = await function(db, user, "", self.counters[counter], now=at, **kw)
            return result

        return await self.run(work)

    async def statuses(self) -> dict[str, str]:
        async with self.sessions() as db:
            rows = await db.execute(sa.select(Ticket.label, Ticket.status).order_by(Ticket.id))
            return {label: status for label, status in rows}


def scenario(database_url: str, db: sa.Engine, body: Callable[[Queue], Awaitable[None]]) -> None:
    site_id = add_site(db)
    add_user(db, "chief", Role.ADMIN)

    async def main() -> None:
        engine = create_engine(database_url)
        try:
            queue = Queue(session_factory(engine), site_id)
            await queue.setup()
            await body(queue)
        finally:
            await engine.dispose()

    asyncio.run(main())


def at(minutes: int) -> datetime:
    return MORNING + timedelta(minutes=minutes)


def test_each_service_numbers_from_one_and_a_repeated_request_gets_one_ticket(
    database_url: str, db: sa.Engine
) -> None:
    async def body(q: Queue) -> None:
        first = await q.issue("A", at(0))
        again = await q.issue("A", at(1), request_key="tap-1")
        repeat = await q.issue("A", at(1), request_key="tap-1")
        other = await q.issue("B", at(2))
        assert (first.label, again.label, other.label) == ("A-001", "A-002", "B-001")
        assert repeat.id == again.id
        assert len(first.public_id) >= 22 and first.public_id != again.public_id

    scenario(database_url, db, body)


def test_call_next_serves_the_counters_services_in_order_with_the_fair_rule(
    database_url: str, db: sa.Engine
) -> None:
    async def body(q: Queue) -> None:
        await q.issue("B", at(0))
        for minute in range(1, 5):
            await q.issue("A", at(minute))
        await q.issue("A", at(5), priority=True)  # A-005 joins last but has priority
        # Counter 1 serves only A: B-001 is not its to call.
        called = [(await q.act("call_next", 1, at(10 + i))).label for i in range(3)]
        assert called == ["A-001", "A-002", "A-003"]
        # After three normal calls the priority ticket gets its turn.
        assert (await q.act("call_next", 1, at(20))).label == "A-005"
        assert (await q.act("call_next", 2, at(21))).label == "B-001"
        statuses = await q.statuses()
        # Calling next finished what counter 1 was serving.
        assert statuses["A-001"] == statuses["A-002"] == statuses["A-003"] == "done"
        assert statuses["A-005"] == "called" and statuses["A-004"] == "waiting"

    scenario(database_url, db, body)


def test_counter_actions_from_call_to_finish(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        await q.issue("A", at(0))
        ticket = await q.act("call_next", 1, at(5))
        with pytest.raises(Conflict, match="recalls"):
            await q.act("no_show", 1, at(6))  # not before the set number of recalls
        assert (await q.act("recall", 1, at(7))).recalls == 1
        held = await q.act("hold", 1, at(8))
        assert held.status == "held"
        back = await q.run(
            lambda db, u: tickets.return_held(db, u, "", q.counters[2], ticket.id, now=at(9))
        )
        assert back.status == "called" and back.counter_id == q.counters[2]
        assert (await q.act("start", 2, at(10))).started_at is not None
        done = await q.act("finish", 2, at(15))
        assert done.status == "done" and done.called_at == at(5)

    scenario(database_url, db, body)


def test_a_no_show_after_the_recalls(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        await q.issue("A", at(0))
        await q.act("call_next", 1, at(1))
        await q.act("recall", 1, at(2))
        await q.act("recall", 1, at(3))
        assert (await q.act("no_show", 1, at(4))).status == "no_show"

    scenario(database_url, db, body)


def test_transfer_keeps_the_number_and_the_place(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        await q.issue("A", at(0))
        await q.issue("B", at(1))
        await q.act("call_next", 1, at(2))
        moved = await q.act("transfer", 1, at(3), service_id=q.services["B"])
        assert (moved.label, moved.status, moved.joined_at) == ("A-001", "waiting", at(0))
        # It joined before B-001, so counter 2 (which serves B) calls it first.
        assert (await q.act("call_next", 2, at(4))).label == "A-001"
        await q.act("finish", 2, at(5))
        await q.issue("A", at(6))
        await q.act("call_next", 1, at(7))
        with pytest.raises(NotFound):
            await q.act("transfer", 1, at(8), to_counter_id=q.counters[2] + 100)
        await q.run(lambda db, u: tickets.set_counter_open(db, u, "", q.counters[2], False))
        with pytest.raises(Conflict, match="Counter 2 is closed"):
            await q.act("transfer", 1, at(8), to_counter_id=q.counters[2])
        await q.run(lambda db, u: tickets.set_counter_open(db, u, "", q.counters[2], True))
        # Sent to counter 2, only counter 2 calls it.
        await q.act("transfer", 1, at(8), to_counter_id=q.counters[2])
        with pytest.raises(Conflict, match="Nobody"):
            await q.act("call_next", 1, at(9))
        assert (await q.act("call_next", 2, at(9))).label == "B-001"
        assert (await q.act("call_next", 2, at(10))).label == "A-002"

    scenario(database_url, db, body)


def test_bad_calls_are_refused_and_change_nothing(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        with pytest.raises(Conflict, match="Nobody is waiting"):
            await q.act("call_next", 1, at(0))
        await q.issue("A", at(1))
        await q.issue("B", at(2))
        await q.act("call_next", 1, at(3))
        await q.act("finish", 1, at(4))
        before = await q.statuses()
        bad: list[tuple[str, dict[str, Any], type[HTTPError], str]] = [
            ("call_ticket", {"label": "A-001"}, Conflict, "already been served"),
            ("call_ticket", {"label": "A-999"}, NotFound, "no ticket A-999"),
            ("call_ticket", {"label": "??"}, NotFound, "such as A-023"),
            ("recall", {}, Conflict, "no ticket called"),
            ("transfer", {"service_id": q.services["B"]}, Conflict, "no ticket called"),
        ]
        for action, kwargs, error, message in bad:
            with pytest.raises(error, match=message):
                await q.act(action, 1, at(5), **kwargs)
        # Transferring to a service that stopped taking numbers.
        await q.run(
            lambda db, u: counters.update_service(
                db, u, "", q.services["B"], counters.ServiceInput("B", "税", open=False)
            )
        )
        await q.act("call_ticket", 2, at(6), label="b1")
        with pytest.raises(Conflict, match="closed now"):
            await q.act("transfer", 2, at(7), service_id=q.services["B"])
        with pytest.raises(Conflict, match="not taking numbers"):
            await q.issue("B", at(8))
        after = await q.statuses()
        assert after == before | {"B-001": "called"}

    scenario(database_url, db, body)


def test_staff_of_another_site_cannot_call(database_url: str, db: sa.Engine) -> None:
    other_site = add_site(db, "kita", "北支所")
    add_user(db, "clerk", Role.COUNTER, site_id=other_site)
    add_user(db, "writer", Role.EDITOR)

    async def body(q: Queue) -> None:
        await q.issue("A", at(0))
        async with transaction(q.sessions) as session:
            clerk = await session.scalar(sa.select(User).where(User.username == "clerk"))
            writer = await session.scalar(sa.select(User).where(User.username == "writer"))
            assert clerk is not None and writer is not None
            with pytest.raises(NotFound):
                await tickets.call_next(session, clerk, "", q.counters[1], now=at(1))
            with pytest.raises(Forbidden):
                await tickets.call_next(session, writer, "", q.counters[1], now=at(1))
        assert (await q.statuses())["A-001"] == "waiting"

    scenario(database_url, db, body)


def test_a_new_day_starts_at_one_and_closes_out_yesterday(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        await q.issue("A", at(0))
        await q.issue("A", at(1))
        await q.act("call_next", 1, at(2))
        tomorrow = await q.issue("A", at(24 * 60))
        assert tomorrow.label == "A-001" and tomorrow.day == (MORNING + timedelta(days=1)).date()
        async with q.sessions() as session:
            rows = (
                await session.execute(
                    sa.select(Ticket.day, Ticket.label, Ticket.status).order_by(Ticket.id)
                )
            ).all()
        today = MORNING.date()
        assert [(r.day == today, r.label, r.status) for r in rows] == [
            (True, "A-001", "closed"),
            (True, "A-002", "closed"),
            (False, "A-001", "waiting"),
        ]

    scenario(database_url, db, body)


def test_concurrent_callers_never_get_the_same_ticket(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        for minute in range(12):
            await q.issue("A", at(minute))
        async with transaction(q.sessions) as session:
            user = await session.scalar(sa.select(User).where(User.username == "chief"))
            assert user is not None
            for number in range(3, 11):
                await counters.create_counter(
                    session,
                    user,
                    "",
                    q.site_id,
                    counters.CounterInput(number, "", [q.services["A"]]),
                )
            ids = list(await session.scalars(sa.select(QueueCounter.id)))

        async def call(counter_id: int) -> str | None:
            try:
                ticket = await q.run(
                    lambda s, u: tickets.call_next(s, u, "", counter_id, now=at(30))
                )
            except Conflict:
                return None
            return ticket.label

        labels = await asyncio.gather(*(call(i) for i in ids * 2))
        called = [label for label in labels if label]
        assert len(called) == 12 and len(set(called)) == 12

    scenario(database_url, db, body)


def test_the_day_opens_and_closes_by_the_clock(database_url: str, db: sa.Engine) -> None:
    day = MORNING.replace(hour=0)

    def time_of(hour: int, minute: int = 0) -> datetime:
        return day + timedelta(hours=hour, minutes=minute)

    async def tick(hour: int, minute: int = 0) -> dict[int, str]:
        async with transaction(q_holder[0].sessions) as session:
            return await tickets.day_boundaries(session, time_of(hour, minute))

    q_holder: list[Queue] = []

    async def body(q: Queue) -> None:
        q_holder.append(q)
        await q.issue("A", day.replace(hour=7, minute=50))  # before opening: today's A-001
        assert await tick(8, 0) == {}
        assert await tick(8, 30) == {}  # the issue already started the day
        await q.issue("A", day.replace(hour=9))
        await q.act("call_next", 1, day.replace(hour=9, minute=5))
        assert await tick(17, 14) == {}
        assert await tick(17, 15) == {q.site_id: "closed"}
        assert await tick(17, 16) == {}  # once a day
        assert set((await q.statuses()).values()) == {"closed"}
        # The next morning at opening time the day starts again.
        assert await tick(8 + 24, 29) == {}
        assert await tick(8 + 24, 31) == {q.site_id: "opened"}
        tomorrow = await q.issue("A", time_of(9 + 24))
        assert tomorrow.label == "A-001"

    scenario(database_url, db, body)


def test_a_transfer_keeps_the_wait_and_starts_service_and_recalls_afresh(
    database_url: str, db: sa.Engine
) -> None:
    async def body(q: Queue) -> None:
        await q.issue("A", at(0))
        await q.act("call_next", 1, at(10))
        await q.act("recall", 1, at(11))
        await q.act("start", 1, at(11))
        moved = await q.act("transfer", 1, at(12), service_id=q.services["B"])
        assert (moved.recalls, moved.started_at) == (0, None)
        again = await q.act("call_next", 2, at(40))
        assert again.called_at == at(10)  # the wait ended at the first call
        with pytest.raises(Conflict, match="recalls"):
            await q.act("no_show", 2, at(41))  # counter 2 has not recalled it yet
        await q.act("start", 2, at(41))
        done = await q.act("finish", 2, at(43))
        assert (done.started_at, done.finished_at) == (at(41), at(43))

    scenario(database_url, db, body)


@pytest.mark.skipif(not PG_URL, reason="only PostgreSQL runs two writers at once")
def test_a_number_taken_meanwhile_is_never_issued_twice(database_url: str, db: sa.Engine) -> None:
    async def body(q: Queue) -> None:
        async with transaction(q.sessions) as first:
            # This transaction has read the service and the rules (a kiosk's view does)...
            await first.get(QueueService, q.services["A"])
            await first.get(QueueSite, q.site_id)
            # ...while another takes A-001 and commits.
            assert (await q.issue("A", at(0))).label == "A-001"
            issued = await tickets.issue(
                first, site_id=q.site_id, service_id=q.services["A"], now=at(1)
            )
            assert issued.ticket.label == "A-002"

    scenario(database_url, db, body)
