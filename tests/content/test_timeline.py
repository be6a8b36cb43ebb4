"""Schedule resolution: hand-written cases, then invariants checked against a brute-force oracle."""

from __future__ import annotations

import time as clock
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from content.calendar import closed_days
from content.schedules import DayKind, Daypart, Schedule, Slot, validate_schedule
from content.timeline import resolve

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = frozenset(range(5))


def tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def spans(slots: list[Slot]) -> list[tuple[datetime, datetime, int | None]]:
    return [(slot.start, slot.end, slot.schedule_id) for slot in slots]


def played(slots: list[Slot], schedule_id: int) -> list[tuple[datetime, datetime]]:
    return [(slot.start, slot.end) for slot in slots if slot.schedule_id == schedule_id]


def assert_tiles(slots: list[Slot], start: datetime, end: datetime) -> None:
    assert slots[0].start == start
    assert slots[-1].end == end
    for slot in slots:
        assert slot.start < slot.end
        assert slot.start.utcoffset() == timedelta(0)
        assert slot.end.utcoffset() == timedelta(0)
    for before, after in pairwise(slots):
        assert before.end == after.start
        assert (before.playlist_id, before.schedule_id) != (after.playlist_id, after.schedule_id)


# --- hand-written cases --------------------------------------------------------------------


def test_weekday_office_hours_show_exactly_in_their_window() -> None:
    office = Schedule(1, 10, "main", dayparts=(Daypart(WEEKDAYS, time(8, 30), time(17, 15)),))
    start = tokyo(2026, 11, 20)  # a Friday

    slots = resolve([office], ["main"], {"main": 99}, "Asia/Tokyo", start, hours=72)["main"]

    assert_tiles(slots, start, start + timedelta(hours=72))
    assert spans(slots) == [
        (start, tokyo(2026, 11, 20, 8, 30), None),
        (tokyo(2026, 11, 20, 8, 30), tokyo(2026, 11, 20, 17, 15), 1),
        (tokyo(2026, 11, 20, 17, 15), tokyo(2026, 11, 23), None),  # not on the weekend
    ]
    assert slots[1].playlist_id == 10
    assert slots[0].playlist_id == slots[2].playlist_id == 99
    assert slots[1].start == utc(2026, 11, 19, 23, 30)


def test_friday_night_range_runs_into_saturday_only() -> None:
    night = Schedule(2, 20, "main", dayparts=(Daypart(frozenset({4}), time(22), time(2)),))
    start = tokyo(2026, 11, 19)  # Thursday

    slots = resolve([night], ["main"], {"main": 1}, "Asia/Tokyo", start, hours=96)["main"]

    assert played(slots, 2) == [(tokyo(2026, 11, 20, 22), tokyo(2026, 11, 21, 2))]


def test_range_that_started_before_the_window_is_cut_at_its_start() -> None:
    night = Schedule(2, 20, "main", dayparts=(Daypart(frozenset(), time(22), time(2)),))
    start = tokyo(2026, 11, 21, 1)

    slots = resolve([night], ["main"], {"main": 1}, "Asia/Tokyo", start, hours=3)["main"]

    assert spans(slots) == [
        (start, tokyo(2026, 11, 21, 2), 2),
        (tokyo(2026, 11, 21, 2), start + timedelta(hours=3), None),
    ]


def test_equal_start_and_end_means_a_whole_day() -> None:
    day = Schedule(3, 30, "main", dayparts=(Daypart(frozenset({0}), time(6), time(6)),))
    start = tokyo(2026, 11, 16)  # Monday

    slots = resolve([day], ["main"], {"main": 1}, "Asia/Tokyo", start, hours=48)["main"]

    assert played(slots, 3) == [(tokyo(2026, 11, 16, 6), tokyo(2026, 11, 17, 6))]


def test_higher_priority_overrides_then_the_lower_one_returns() -> None:
    usual = Schedule(1, 10, "main")
    lunch = Schedule(
        2, 20, "main", priority=5, dayparts=(Daypart(frozenset(), time(12), time(13)),)
    )
    start = tokyo(2026, 11, 18)

    slots = resolve([lunch, usual], ["main"], {"main": 1}, "Asia/Tokyo", start, hours=24)["main"]

    assert [(s.start, s.end, s.schedule_id, s.priority) for s in slots] == [
        (start, tokyo(2026, 11, 18, 12), 1, 0),
        (tokyo(2026, 11, 18, 12), tokyo(2026, 11, 18, 13), 2, 5),
        (tokyo(2026, 11, 18, 13), start + timedelta(hours=24), 1, 0),
    ]


def test_equal_priority_prefers_the_later_start_then_the_lower_id() -> None:
    old = Schedule(5, 50, "main", starts_at=utc(2026, 1, 1))
    new = Schedule(9, 90, "main", starts_at=utc(2026, 6, 1))
    open_ended = Schedule(1, 10, "main")
    twin = Schedule(4, 40, "main", starts_at=utc(2026, 6, 1))
    start = utc(2026, 7, 1)

    for order in ([old, new, open_ended, twin], [twin, open_ended, new, old]):
        slots = resolve(order, ["main"], {}, "Asia/Tokyo", start, hours=1)["main"]
        assert spans(slots) == [(start, start + timedelta(hours=1), 4)]
    slots = resolve([old, open_ended], ["main"], {}, "Asia/Tokyo", start, hours=1)["main"]
    assert slots[0].schedule_id == 5  # any start beats no start


def test_open_days_skip_a_public_holiday_and_closed_days_show_only_on_it() -> None:
    office = Schedule(
        1,
        10,
        "main",
        dayparts=(Daypart(WEEKDAYS, time(8, 30), time(17, 15)),),
        days=DayKind.OPEN,
    )
    holiday = Schedule(2, 20, "side", days=DayKind.CLOSED)
    start = tokyo(2026, 11, 23)  # Labour Thanksgiving Day, a Monday
    closed = closed_days(date(2026, 11, 20), date(2026, 11, 26))

    result = resolve(
        [office, holiday], ["main", "side"], {"main": 1, "side": 2}, "Asia/Tokyo", start, 72, closed
    )

    assert played(result["main"], 1) == [
        (tokyo(2026, 11, 24, 8, 30), tokyo(2026, 11, 24, 17, 15)),
        (tokyo(2026, 11, 25, 8, 30), tokyo(2026, 11, 25, 17, 15)),
    ]
    assert played(result["side"], 2) == [(start, tokyo(2026, 11, 24))]


def test_a_site_closure_counts_as_closed() -> None:
    office = Schedule(1, 10, "main", days=DayKind.OPEN)
    start = tokyo(2026, 12, 28)

    slots = resolve([office], ["main"], {"main": 1}, "Asia/Tokyo", start, 48, {date(2026, 12, 29)})[
        "main"
    ]

    assert played(slots, 1) == [(start, tokyo(2026, 12, 29))]


def test_cron_weekdays_read_as_classic_cron() -> None:
    # As people type them: 1-5 is Monday to Friday (APScheduler alone would read Tue-Sat).
    numbers = Schedule(1, 10, "main", cron="0 9 * * 1-5", cron_minutes=30)
    names = Schedule(2, 20, "side", cron="0 9 * * mon-fri", cron_minutes=30)
    sundays = Schedule(3, 30, "ticker", cron="0 9 * * 0", cron_minutes=30)
    also_sundays = Schedule(4, 40, "extra", cron="0 9 * * 7", cron_minutes=30)
    start = tokyo(2026, 11, 16)  # Monday

    result = resolve(
        [numbers, names, sundays, also_sundays],
        ["main", "side", "ticker", "extra"],
        {},
        "Asia/Tokyo",
        start,
        hours=7 * 24,
    )

    assert played(result["main"], 1) == [
        (tokyo(2026, 11, d, 9), tokyo(2026, 11, d, 9, 30)) for d in range(16, 21)
    ]
    sunday = [(tokyo(2026, 11, 22, 9), tokyo(2026, 11, 22, 9, 30))]
    assert played(result["ticker"], 3) == sunday
    assert played(result["extra"], 4) == sunday
    assert played(result["side"], 2) == [
        (tokyo(2026, 11, d, 9), tokyo(2026, 11, d, 9, 30)) for d in range(16, 21)
    ]
    assert {slot.playlist_id for slot in result["main"] if slot.schedule_id is None} == {None}


def test_cron_run_that_began_before_the_window_is_included() -> None:
    run = Schedule(1, 10, "main", cron="0 9 * * *", cron_minutes=120)
    start = tokyo(2026, 11, 16, 10)

    slots = resolve([run], ["main"], {"main": 1}, "Asia/Tokyo", start, hours=2)["main"]

    assert spans(slots) == [
        (start, tokyo(2026, 11, 16, 11), 1),
        (tokyo(2026, 11, 16, 11), start + timedelta(hours=2), None),
    ]


def test_dst_spring_forward_in_berlin() -> None:
    night = Schedule(1, 10, "main", dayparts=(Daypart(frozenset(), time(2, 30), time(3, 30)),))
    cron = Schedule(2, 20, "side", cron="30 2 * * *", cron_minutes=60)
    start = utc(2026, 3, 28)

    result = resolve([night, cron], ["main", "side"], {"main": 1}, "Europe/Berlin", start, 72)

    for slots in result.values():
        assert_tiles(slots, start, start + timedelta(hours=72))
    assert played(result["main"], 1) == [
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 2, 30)),  # CET
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30)),  # 02:30 does not exist: from the jump
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 1, 30)),  # CEST
    ]
    assert played(result["side"], 2) == [
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 2, 30)),
        (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30)),  # as APScheduler fires it
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 1, 30)),
    ]


def test_cron_run_at_a_skipped_time_does_not_depend_on_the_window_start() -> None:
    # APScheduler fires "02:30" at 03:30 summer time that day when it walks there from the day
    # before, but skips it when asked from 03:15; where the window starts must not matter.
    cron = Schedule(1, 10, "main", cron="30 2 * * *", cron_minutes=5)

    for start, hours in ((utc(2026, 3, 28, 12), 15), (utc(2026, 3, 29, 1, 20), 1)):
        slots = resolve([cron], ["main"], {}, "Europe/Berlin", start, hours)["main"]
        assert played(slots, 1) == [(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 35))]
    # Gaza jumps from 02:00 to 03:00 at exactly midnight UTC.
    for start, hours in ((utc(2026, 3, 27, 12), 24), (utc(2026, 3, 28, 0, 10), 1)):
        slots = resolve([cron], ["main"], {}, "Asia/Gaza", start, hours)["main"]
        assert played(slots, 1) == [(utc(2026, 3, 28, 0, 30), utc(2026, 3, 28, 0, 35))]


def test_dst_fall_back_in_berlin() -> None:
    night = Schedule(1, 10, "main", dayparts=(Daypart(frozenset(), time(2, 30), time(3, 30)),))
    cron = Schedule(2, 20, "side", cron="30 2 * * *", cron_minutes=60)
    start = utc(2026, 10, 24, 12)

    result = resolve([night, cron], ["main", "side"], {"main": 1}, "Europe/Berlin", start, 24)

    for slots in result.values():
        assert_tiles(slots, start, start + timedelta(hours=24))
    # From the first 02:30 (summer time) to 03:30 (winter time): two hours.
    assert played(result["main"], 1) == [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30))]
    # APScheduler 3 fires at both 02:30s; the two runs merge into one slot.
    assert played(result["side"], 2) == [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30))]


def test_validity_window_clips_the_schedule() -> None:
    campaign = Schedule(1, 10, "main", starts_at=utc(2026, 5, 1, 10), ends_at=utc(2026, 5, 1, 14))
    past = Schedule(2, 20, "main", ends_at=utc(2026, 5, 1))
    future = Schedule(3, 30, "main", starts_at=utc(2026, 5, 2))
    start = utc(2026, 5, 1)

    slots = resolve([campaign, past, future], ["main"], {"main": 7}, "UTC", start, 24)["main"]

    assert spans(slots) == [
        (start, utc(2026, 5, 1, 10), None),
        (utc(2026, 5, 1, 10), utc(2026, 5, 1, 14), 1),
        (utc(2026, 5, 1, 14), utc(2026, 5, 2), None),
    ]


def test_zone_without_default_has_no_playlist_in_gaps() -> None:
    ticker = Schedule(1, 10, "ticker", dayparts=(Daypart(frozenset(), time(9), time(10)),))
    elsewhere = Schedule(2, 20, "nowhere")
    start = tokyo(2026, 11, 18)

    result = resolve(
        [ticker, elsewhere], ["main", "ticker"], {"ticker": None}, "Asia/Tokyo", start, 24
    )

    assert list(result) == ["main", "ticker"]
    assert [(s.playlist_id, s.schedule_id, s.priority) for s in result["main"]] == [
        (None, None, None)
    ]
    assert [s.playlist_id for s in result["ticker"]] == [None, 10, None]


def test_start_in_another_zone_gives_utc_slots() -> None:
    start = datetime(2026, 11, 18, 9, tzinfo=TOKYO)

    slots = resolve([], ["main"], {"main": 3}, "Asia/Tokyo", start, 1)["main"]

    assert spans(slots) == [(utc(2026, 11, 18), utc(2026, 11, 18, 1), None)]
    assert slots[0].start.tzinfo is UTC


def test_misuse_fails_at_once() -> None:
    with pytest.raises(ValueError, match="aware"):
        resolve([], ["main"], {}, "Asia/Tokyo", datetime(2026, 1, 1), 1)
    with pytest.raises(ValueError, match="time zone"):
        resolve([], ["main"], {}, "Asia/Nowhere", utc(2026, 1, 1), 1)
    with pytest.raises(ValueError, match="hours"):
        resolve([], ["main"], {}, "Asia/Tokyo", utc(2026, 1, 1), 0)
    with pytest.raises(ValueError, match="schedule 7"):
        bad = Schedule(7, 1, "main", cron="61 * * * *", cron_minutes=5)
        resolve([bad], ["main"], {}, "Asia/Tokyo", utc(2026, 1, 1), 1)


def test_silly_rules_stay_bounded() -> None:
    every_minute = Schedule(1, 10, "main", cron="* * * * *", cron_minutes=1, days=DayKind.OPEN)
    never = Schedule(2, 20, "side", cron="0 0 31 2 *", cron_minutes=60)
    odd_minutes = Schedule(3, 30, "ticker", cron="*/2 * * * *", cron_minutes=1)
    began = clock.perf_counter()

    result = resolve(
        [every_minute, never, odd_minutes],
        ["main", "side", "ticker"],
        {"side": 5},
        "Asia/Tokyo",
        utc(2026, 1, 1),
        hours=24 * 30,
        closed_days={date(2026, 1, 2)},
    )

    assert clock.perf_counter() - began < 20
    assert played(result["side"], 2) == []
    assert len(result["ticker"]) > 1000
    main = played(result["main"], 1)
    assert main[0] == (utc(2026, 1, 1), utc(2026, 1, 1, 15))  # until 2 January starts (JST)
    assert main[-1][1] <= utc(2026, 1, 1) + timedelta(minutes=20_000)


def test_validate_schedule_messages() -> None:
    ok = Schedule(
        1,
        1,
        "main",
        starts_at=utc(2026, 1, 1),
        ends_at=utc(2026, 2, 1),
        dayparts=(Daypart(WEEKDAYS, time(8, 30), time(17, 15)),),
        cron="0 9 * * mon-fri",
        cron_minutes=30,
    )
    assert validate_schedule(ok, "Asia/Tokyo") == {}
    assert validate_schedule(Schedule(1, 1, "main", cron=""), "Asia/Tokyo") == {}

    assert validate_schedule(
        Schedule(1, 1, "main", starts_at=utc(2026, 2, 1), ends_at=utc(2026, 2, 1)), "Asia/Tokyo"
    ) == {"ends_at": "The end must be after the start."}
    assert validate_schedule(ok, "Asia/Nowhere") == {
        "timezone": "Unknown time zone. Use a name such as Asia/Tokyo."
    }
    assert validate_schedule(ok, "") == {
        "timezone": "Unknown time zone. Use a name such as Asia/Tokyo."
    }
    for rule in ("0 9 * *", "0 25 * * *", "every day", "0 9 * * 8", "0 9 * * 5-1"):
        assert validate_schedule(Schedule(1, 1, "main", cron=rule, cron_minutes=5), "UTC") == {
            "cron": "This repeat rule is not valid. Use five fields: minute hour day month weekday."
        }
    assert set(validate_schedule(Schedule(1, 1, "main", cron="0 9 * * *"), "UTC")) == {
        "cron_minutes"
    }
    bad_day = (Daypart(frozenset({7}), time(9), time(10)),)
    assert set(validate_schedule(Schedule(1, 1, "main", dayparts=bad_day), "UTC")) == {"dayparts"}
    naive = Schedule(1, 1, "main", starts_at=datetime(2026, 3, 1), ends_at=utc(2026, 1, 1))
    assert set(validate_schedule(naive, "UTC")) == {"starts_at"}


# --- properties against a brute-force oracle --------------------------------------------------

TIMEZONES = ["Asia/Tokyo", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
# Clock changes in those zones (and a Japanese holiday), each with its zone.
ANCHORS = [
    ("Europe/Berlin", utc(2026, 3, 29, 1)),
    ("Europe/Berlin", utc(2026, 10, 25, 1)),
    ("America/New_York", utc(2026, 3, 8, 7)),
    ("America/New_York", utc(2026, 11, 1, 6)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15)),
    ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 30)),
    ("Asia/Tokyo", utc(2026, 11, 22, 15)),
]
# Weekdays by name: the oracle reads rules with APScheduler directly.
CRONS = ["30 2 * * *", "0 9 * * *", "*/20 * * * *", "0 22 * * thu", "15 0-3 * * *", "45 1 * * sat"]
ZONES = ["main", "side", "ticker"]


def wall_to_utc(tz: ZoneInfo, day: date, at: time) -> datetime:
    """First instant the clock shows day/at or later, found by trying both folds or walking."""
    wall = datetime.combine(day, at)
    tries = [wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    exists = [t for t in tries if t.astimezone(tz).replace(tzinfo=None) == wall]
    if exists:
        return min(exists)
    moment = min(tries)  # every test time and clock change is on a whole minute
    while moment.astimezone(tz).replace(tzinfo=None) < wall:
        moment += timedelta(minutes=1)
    return moment


def plays_on(kind: DayKind, day: date, closed: Collection[date]) -> bool:
    return kind is DayKind.ALL or (day in closed) == (kind is DayKind.CLOSED)


def is_active(s: Schedule, t: datetime, timezone: str, closed: Collection[date]) -> bool:
    if s.starts_at is not None and t < s.starts_at:
        return False
    if s.ends_at is not None and t >= s.ends_at:
        return False
    tz = ZoneInfo(timezone)
    today = t.astimezone(tz).date()
    if not s.dayparts and not s.cron:
        return plays_on(s.days, today, closed)
    for part in s.dayparts:
        for back in range(3):
            day = today - timedelta(days=back)
            if part.weekdays and day.weekday() not in part.weekdays:
                continue
            if not plays_on(s.days, day, closed):
                continue
            begin = wall_to_utc(tz, day, part.start)
            end = wall_to_utc(tz, day + timedelta(days=int(part.end <= part.start)), part.end)
            if begin <= t < end:
                return True
    if s.cron:
        length = timedelta(minutes=s.cron_minutes)
        trigger = CronTrigger.from_crontab(s.cron, timezone=tz)
        fire = trigger.get_next_fire_time(None, t - length - timedelta(hours=6))
        while fire is not None and fire <= t:
            begin = fire.astimezone(UTC)
            if t < begin + length and plays_on(s.days, begin.astimezone(tz).date(), closed):
                return True
            fire = trigger.get_next_fire_time(fire, fire)
    return False


def winner(
    schedules: Sequence[Schedule], zone_name: str, t: datetime, tz: str, closed: Collection[date]
) -> Schedule | None:
    active = [s for s in schedules if s.zone == zone_name and is_active(s, t, tz, closed)]
    if not active:
        return None
    return min(
        active,
        key=lambda s: (
            -s.priority,
            s.starts_at is None,
            -s.starts_at.timestamp() if s.starts_at else 0,
            s.id,
        ),
    )


Scenario = tuple[list[Schedule], str, datetime, int, frozenset[date], dict[str, int | None]]
minutes = st.sampled_from([0, 1, 15, 30, 45, 59])


@st.composite
def scenarios(draw: st.DrawFn, clock_changes: bool = False) -> Scenario:
    """Schedules near an anchor; with clock_changes, crowded around the change itself."""
    paired, anchor = draw(st.sampled_from(ANCHORS[:-1] if clock_changes else ANCHORS))
    if clock_changes:
        timezone = paired
        start = anchor + timedelta(minutes=draw(st.integers(-5 * 60, 60)))
        hours = draw(st.integers(1, 8))
        # Clock changes happen between 01:00 and 03:00 local time in these zones.
        hours_of_day = st.integers(0, 4)
    else:
        timezone = draw(st.sampled_from([paired, *TIMEZONES]))
        start = anchor + timedelta(minutes=draw(st.integers(-36 * 60, 12 * 60)))
        hours = draw(st.integers(1, 6) | st.integers(1, 60))
        hours_of_day = st.sampled_from([1, 2, 3]) | st.integers(0, 23)
    times = st.builds(time, hours_of_day, minutes)
    weekdays = st.just(frozenset[int]()) | st.frozensets(st.integers(0, 6), max_size=3)
    dayparts = st.builds(Daypart, weekdays, times, times)
    near = st.integers(-48 * 60, 72 * 60).map(lambda m: anchor + timedelta(minutes=m))
    schedules = []
    for index in range(draw(st.integers(1, 6))):
        cron = draw(st.none() | st.sampled_from(CRONS))
        schedules.append(
            Schedule(
                id=index + 1,
                playlist_id=draw(st.integers(1, 4)),
                zone=draw(st.sampled_from([*ZONES, "elsewhere"])),
                priority=draw(st.integers(0, 2)),
                starts_at=draw(st.none() | near),
                ends_at=draw(st.none() | near),
                dayparts=tuple(draw(st.lists(dayparts, max_size=2))),
                cron=cron,
                cron_minutes=draw(st.integers(1, 180)) if cron else 0,
                days=draw(st.sampled_from(DayKind)),
            )
        )
    local = anchor.astimezone(ZoneInfo(timezone)).date()
    around = [local + timedelta(days=n) for n in range(-4, 5)]
    closed = frozenset(draw(st.lists(st.sampled_from(around), max_size=3)))
    defaults = {zone: draw(st.none() | st.integers(1, 9)) for zone in ZONES}
    return schedules, timezone, start, hours, closed, defaults


def check_against_oracle(scenario: Scenario, data: st.DataObject) -> None:
    schedules, timezone, start, hours, closed, defaults = scenario
    end = start + timedelta(hours=hours)

    result = resolve(schedules, ZONES, defaults, timezone, start, hours, closed)

    assert list(result) == ZONES
    shuffled = data.draw(st.permutations(schedules))
    assert resolve(shuffled, ZONES, defaults, timezone, start, hours, closed) == result
    by_id = {s.id: s for s in schedules}
    extra = data.draw(st.lists(st.integers(0, hours * 3600 - 1), max_size=8))
    for zone, slots in result.items():
        assert_tiles(slots, start, end)
        probes = [start + timedelta(seconds=n) for n in extra]
        for slot in slots:
            assert slot.zone == zone
            probes += [
                slot.start,
                slot.start + (slot.end - slot.start) / 2,
                slot.end - timedelta(microseconds=1),
            ]
            if slot.schedule_id is None:
                assert (slot.playlist_id, slot.priority) == (defaults[zone], None)
            else:
                s = by_id[slot.schedule_id]
                assert (s.zone, s.playlist_id, s.priority) == (
                    zone,
                    slot.playlist_id,
                    slot.priority,
                )
                assert s.starts_at is None or s.starts_at <= slot.start
                assert s.ends_at is None or slot.end <= s.ends_at
        for t in probes:
            shown = next(slot for slot in slots if slot.start <= t < slot.end)
            best = winner(schedules, zone, t, timezone, closed)
            assert shown.schedule_id == (best.id if best else None), t


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios(), st.data())
def test_slots_match_the_oracle(scenario: Scenario, data: st.DataObject) -> None:
    check_against_oracle(scenario, data)


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios(clock_changes=True), st.data())
def test_slots_match_the_oracle_around_clock_changes(
    scenario: Scenario, data: st.DataObject
) -> None:
    check_against_oracle(scenario, data)


def test_crontab_fields_read_weekdays_as_classic_cron() -> None:
    from content.schedules import crontab_fields

    assert crontab_fields("0 9 * * 1-5")[4] == "mon,tue,wed,thu,fri"
    assert crontab_fields("0 9 * * 0,6")[4] == "sun,sat"
    assert crontab_fields("0 9 * * 5-7")[4] == "fri,sat,sun"
    assert crontab_fields("0 9 * * 0-6/2")[4] == "sun,tue,thu,sat"
    assert crontab_fields("0 9 * * mon-fri")[4] == "mon-fri"
    assert crontab_fields("0 9 * * *")[4] == "*"
