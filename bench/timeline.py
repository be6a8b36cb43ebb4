"""48-hour timelines for 1,000 screens from 10,000 schedule entries, against a per-minute loop.

The baseline asks, for every minute and zone, which schedule is active, the way a first
version would; it runs on a sample of screens and is scaled up. Fixed seed, under a minute:
    .venv/bin/python bench/timeline.py
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from content import timeline
from content.calendar import closed_days
from content.schedules import DayKind, Daypart, Schedule, Slot
from content.timeline import resolve

SCREENS = 1_000
ENTRIES = 10_000
SAMPLE = 20  # screens the per-minute baseline runs on
HOURS = 48
TIMEZONE = "Asia/Tokyo"
ZONES = ("main", "side", "ticker")
START = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo(TIMEZONE))  # a Friday before a holiday
WEEKDAYS = frozenset(range(5))
CRONS = [("0 9-16 * * mon-fri", 10), ("*/30 * * * *", 5), ("0 12 * * *", 60), ("45 8 * * *", 20)]


def _entry(rng: random.Random, entry_id: int) -> Schedule:
    zone = rng.choice(ZONES)
    priority = rng.choice((0, 0, 1, 2, 3))
    starts_at = ends_at = None
    if rng.random() < 0.3:
        starts_at = START + timedelta(hours=rng.randint(-72, 24))
        ends_at = starts_at + timedelta(hours=rng.randint(6, 96))
    kind = rng.random()
    dayparts: tuple[Daypart, ...] = ()
    cron, cron_minutes, days = None, 0, DayKind.ALL
    if kind < 0.45:  # office hours, morning or afternoon
        start = clock(rng.choice((8, 9, 13)), rng.choice((0, 30)))
        end = clock(rng.choice((12, 17)), rng.choice((0, 15)))
        dayparts = (Daypart(WEEKDAYS, start, end),)
        days = DayKind.OPEN
    elif kind < 0.6:  # evenings into the night, crossing midnight
        dayparts = (Daypart(frozenset(rng.sample(range(7), 4)), clock(22), clock(2)),)
    elif kind < 0.8:  # repeating announcements
        cron, cron_minutes = rng.choice(CRONS)
    elif kind < 0.9:  # holiday notice
        days = DayKind.CLOSED
    else:  # a campaign in the main zone, all day within its window
        priority += 1
    return Schedule(
        entry_id,
        rng.randint(1, 500),
        zone,
        priority,
        starts_at,
        ends_at,
        dayparts,
        cron,
        cron_minutes,
        days,
    )


def _naive_is_active(s: Schedule, t: datetime, closed: frozenset[date]) -> bool:
    if (s.starts_at and t < s.starts_at) or (s.ends_at and t >= s.ends_at):
        return False
    local = t.astimezone(ZoneInfo(TIMEZONE))

    def plays(day: date) -> bool:
        return s.days is DayKind.ALL or (day in closed) == (s.days is DayKind.CLOSED)

    if not s.dayparts and not s.cron:
        return plays(local.date())
    for part in s.dayparts:
        now = local.time()
        for day, inside in (
            (local.date(), part.start <= now and (now < part.end or part.end <= part.start)),
            (local.date() - timedelta(days=1), part.end <= part.start and now < part.end),
        ):
            if inside and (not part.weekdays or day.weekday() in part.weekdays) and plays(day):
                return True
    if s.cron:
        trigger = CronTrigger.from_crontab(s.cron, timezone=ZoneInfo(TIMEZONE))
        since = t - timedelta(minutes=s.cron_minutes) + timedelta(seconds=1)
        fire = trigger.get_next_fire_time(None, since)
        if fire is not None and fire <= t and plays(fire.astimezone(ZoneInfo(TIMEZONE)).date()):
            return True
    return False


def _naive(
    schedules: list[Schedule], defaults: dict[str, int], closed: frozenset[date]
) -> dict[str, list[int | None]]:
    """The winning schedule id (None for the default) in each zone at each minute."""
    start = START.astimezone(UTC)
    shown: dict[str, list[int | None]] = {zone: [] for zone in ZONES}
    for minute in range(HOURS * 60):
        t = start + timedelta(minutes=minute)
        for zone in ZONES:
            active = [s for s in schedules if s.zone == zone and _naive_is_active(s, t, closed)]
            best = min(
                active,
                key=lambda s: (
                    -s.priority,
                    s.starts_at is None,
                    -s.starts_at.timestamp() if s.starts_at else 0,
                    s.id,
                ),
                default=None,
            )
            shown[zone].append(best.id if best else None)
    return shown


def _at_minutes(slots: list[Slot]) -> list[int | None]:
    """Slot by slot, minute by minute (every boundary here falls on a whole minute)."""
    out: list[int | None] = []
    for slot in slots:
        out += [slot.schedule_id] * ((slot.end - slot.start) // timedelta(minutes=1))
    return out


def main() -> None:
    rng = random.Random(20261123)
    screens: list[list[Schedule]] = [[] for _ in range(SCREENS)]
    for entry_id in range(1, ENTRIES + 1):
        screens[rng.randrange(SCREENS)].append(_entry(rng, entry_id))
    defaults = {"main": 1, "side": 2, "ticker": 3}
    today = START.date()
    closed = closed_days(today - timedelta(days=2), today + timedelta(days=4))

    began = time.perf_counter()
    timelines = [
        resolve(entries, ZONES, defaults, TIMEZONE, START, HOURS, closed) for entries in screens
    ]
    fast = time.perf_counter() - began
    slots = sum(len(zone) for timeline in timelines for zone in timeline.values())

    sample = range(0, SCREENS, SCREENS // SAMPLE)
    began = time.perf_counter()
    for n in sample:  # as if no screen shared a rule or a time of day with another
        timeline._wall_to_utc.cache_clear()
        timeline._cron_fires.cache_clear()
        resolve(screens[n], ZONES, defaults, TIMEZONE, START, HOURS, closed)
    cold = (time.perf_counter() - began) * SCREENS / len(sample)
    began = time.perf_counter()
    naive = [_naive(screens[n], defaults, closed) for n in sample]
    slow = (time.perf_counter() - began) * SCREENS / len(sample)
    agree = all(
        _at_minutes(timelines[n][zone]) == result[zone]
        for n, result in zip(sample, naive, strict=True)
        for zone in ZONES
    )

    print(f"screens, entries, hours      : {SCREENS}, {ENTRIES}, {HOURS} ({slots} slots)")
    print(f"resolve, all screens         : {fast:8.3f} s  ({fast / SCREENS * 1000:.2f} ms/screen)")
    print(f"resolve, no caching, scaled  : {cold:8.3f} s  (from {len(sample)} screens)")
    print(f"per-minute loop, scaled      : {slow:8.3f} s  (from {len(sample)} screens)")
    print(f"ratio (per-minute / resolve) : {slow / fast:8.1f}  (no caching: {slow / cold:.1f})")
    print(f"same answers on the sample   : {agree}")


if __name__ == "__main__":
    main()
