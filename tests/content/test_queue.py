from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content.queue import FairRule, Waiting, estimated_wait, next_ticket, ticket_number

T0 = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def ticket(id: int, minute: int, priority: bool = False, service: str = "A") -> Waiting:
    return Waiting(id, service, T0 + timedelta(minutes=minute), priority)


def test_ticket_numbers_start_at_one_per_service() -> None:
    assert ticket_number("A", 1) == "A-001"
    assert ticket_number("B", 23) == "B-023"
    assert ticket_number("A", 1234) == "A-1234"


def test_oldest_first_within_the_counters_services() -> None:
    queue = [ticket(1, 5), ticket(2, 1, service="B"), ticket(3, 2)]
    assert next_ticket(queue, {"A"}, FairRule(), 0) == queue[2]
    assert next_ticket(queue, {"A", "B"}, FairRule(), 0) == queue[1]
    assert next_ticket(queue, {"C"}, FairRule(), 0) is None
    assert next_ticket([], {"A"}, FairRule(), 0) is None


def test_a_priority_ticket_gets_its_turn_after_n_normal_calls() -> None:
    queue = [ticket(1, 0), ticket(2, 1), ticket(3, 2), ticket(4, 3, priority=True)]
    rule = FairRule(normal_per_priority=2)
    assert next_ticket(queue, {"A"}, rule, 0) == queue[0]
    assert next_ticket(queue, {"A"}, rule, 1) == queue[0]
    assert next_ticket(queue, {"A"}, rule, 2) == queue[3]
    assert next_ticket([queue[3]], {"A"}, rule, 0) == queue[3]  # alone: no waiting for turns


def test_rule_must_allow_normal_calls() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FairRule(normal_per_priority=0)


@settings(max_examples=200, deadline=None)
@given(
    arrivals=st.lists(st.booleans(), min_size=1, max_size=40),
    n=st.integers(1, 5),
)
def test_priority_neither_sinks_nor_starves(arrivals: list[bool], n: int) -> None:
    rule = FairRule(normal_per_priority=n)
    waiting = [ticket(i, i, priority=p) for i, p in enumerate(arrivals)]
    called: list[Waiting] = []
    since = 0
    run_of_normal_while_priority_waits = 0
    while waiting:
        chosen = next_ticket(waiting, {"A"}, rule, since)
        assert chosen is not None and chosen in waiting
        priority_waiting = any(t.priority for t in waiting)
        older_normal = [t for t in waiting if not t.priority and t.joined_at < chosen.joined_at]
        if chosen.priority:
            # It only jumps ahead of an older normal ticket when the normal ones had n turns.
            assert not older_normal or since >= n
            since = 0
            run_of_normal_while_priority_waits = 0
        else:
            since += 1
            if priority_waiting:
                run_of_normal_while_priority_waits += 1
                assert run_of_normal_while_priority_waits <= n
        waiting.remove(chosen)
        called.append(chosen)
    # Everyone is called exactly once, first come first served within each kind.
    assert sorted(t.id for t in called) == list(range(len(arrivals)))
    for kind in (True, False):
        order = [t.id for t in called if t.priority is kind]
        assert order == sorted(order)


def test_estimated_wait() -> None:
    minutes = [timedelta(minutes=m) for m in (4, 6, 5)]
    assert estimated_wait(3, 2, minutes) == timedelta(minutes=8)  # 5 min x 3 / 2 = 7.5
    assert estimated_wait(1, 1, []) == timedelta(minutes=5)  # early in the day: the default
    assert estimated_wait(0, 3, minutes) == timedelta(0)
    assert estimated_wait(2, 0, minutes) == timedelta(minutes=10)  # no counter open: as one


def test_a_ticket_transferred_to_a_counter_is_called_only_there() -> None:
    mine = Waiting(1, "B", T0, for_counter=3)
    others = Waiting(2, "A", T0 - timedelta(minutes=1), for_counter=4)
    plain = Waiting(3, "A", T0 + timedelta(minutes=1))
    queue = [mine, others, plain]
    # Counter 3 serves only A, but the ticket sent to it (service B) is its own, in its place.
    assert next_ticket(queue, {"A"}, FairRule(), 0, counter=3) == mine
    assert next_ticket(queue, {"A"}, FairRule(), 0, counter=5) == plain
    assert next_ticket([others], {"A"}, FairRule(), 0, counter=3) is None
