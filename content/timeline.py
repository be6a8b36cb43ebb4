"""Resolve schedules into concrete slots per zone: what plays where, from when to when.

    closed = closed_days(*days_around(today, 48), site_closures)       # content.calendar
    slots = resolve(schedules, ["main", "ticker"], {"main": 7, "ticker": None},
                    "Asia/Tokyo", now, 48, closed)                       # {"main": [Slot...]}

Each schedule is turned once into the UTC intervals it is active in, then each zone is swept
once over the interval boundaries, so the cost grows with intervals, not with minutes.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from operator import itemgetter
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from content.schedules import DayKind, Schedule, Slot, crontab_fields, zone_info

# A rule such as "* * * * *" over a long window must not keep the server busy.
MAX_OCCURRENCES = 20_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_MIDNIGHT = time()
# APScheduler 3 can skip a firing at a wall time the clock jumped over when asked from a
# moment just after the jump, but not when it walks there from earlier. Starting each day's
# walk this long before the day keeps such a moment out of the day.
_CRON_LEAD = timedelta(hours=3)

_Interval = tuple[datetime, datetime]
_Rank = tuple[int, int, int, int, int]


def resolve(
    schedules: Iterable[Schedule],
    zones: Sequence[str],
    default_playlists: Mapping[str, int | None],
    timezone: str,
    start: datetime,
    hours: int = 48,
    closed_days: Collection[date] = (),
) -> dict[str, list[Slot]]:
    """Slots per zone covering [start, start + hours) exactly, in UTC, sorted, merged.

    In each zone the active schedule with the highest priority wins (ties: the later
    starts_at, then the lower id); the zone's default playlist fills the gaps.
    """
    if start.utcoffset() is None:
        raise ValueError("start must be an aware datetime")
    if hours <= 0:
        raise ValueError(f"hours must be positive, not {hours}")
    zone_info(timezone)  # fails at once on an unknown zone
    lo = start.astimezone(UTC)
    hi = lo + timedelta(hours=hours)
    closed = frozenset(closed_days)
    wanted = set(zones)
    found: dict[str, list[tuple[_Rank, Schedule, list[_Interval]]]] = {z: [] for z in zones}
    for schedule in schedules:
        if schedule.zone not in wanted:
            continue
        intervals = active_intervals(schedule, timezone, lo, hi, closed)
        if intervals:
            found[schedule.zone].append((_rank(schedule), schedule, intervals))
    return {zone: _sweep(zone, found[zone], default_playlists.get(zone), lo, hi) for zone in zones}


def active_intervals(
    schedule: Schedule,
    timezone: str,
    lo: datetime,
    hi: datetime,
    closed_days: Collection[date] = (),
) -> list[_Interval]:
    """The sorted, disjoint UTC intervals within [lo, hi) in which `schedule` is active."""
    if schedule.starts_at is not None:
        lo = max(lo, schedule.starts_at)
    if schedule.ends_at is not None:
        hi = min(hi, schedule.ends_at)
    if lo >= hi:
        return []
    lo, hi = lo.astimezone(UTC), hi.astimezone(UTC)
    cron = (schedule.cron or "").strip()
    if not schedule.dayparts and not cron:
        if schedule.days is DayKind.ALL:
            return [(lo, hi)]
        raw = [
            (_wall_to_utc(timezone, day, _MIDNIGHT), _wall_to_utc(timezone, day + _DAY, _MIDNIGHT))
            for day in _local_days(timezone, lo, hi, before=0)
            if _plays_on(schedule.days, day, closed_days)
        ]
    else:
        raw = _daypart_ranges(schedule, timezone, lo, hi, closed_days)
        if cron:
            raw += _cron_runs(schedule, cron, timezone, lo, hi, closed_days)
    return _clip_and_merge(raw, lo, hi)


def _rank(schedule: Schedule) -> _Rank:
    """Smaller ranks win: higher priority, then later starts_at (None last), then lower id."""
    if schedule.starts_at is None:
        since = (1, 0)
    else:
        since = (0, -((schedule.starts_at - _EPOCH) // timedelta(microseconds=1)))
    return (-schedule.priority, *since, schedule.id, schedule.playlist_id)


def _plays_on(kind: DayKind, day: date, closed_days: Collection[date]) -> bool:
    if kind is DayKind.OPEN:
        return day not in closed_days
    if kind is DayKind.CLOSED:
        return day in closed_days
    return True


def _local_days(timezone: str, lo: datetime, hi: datetime, before: int) -> list[date]:
    """Local dates from `before` days ahead of lo's through hi's."""
    tz = ZoneInfo(timezone)
    first = lo.astimezone(tz).date() - timedelta(days=before)
    last = hi.astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@lru_cache(maxsize=65_536)
def _wall_to_utc(timezone: str, day: date, at: time) -> datetime:
    """The first instant at which the site's clock shows `day` `at` or later.

    That is the wall time itself; its first occurrence when the clock falls back; and the
    moment of the jump when the clock springs forward over it.
    """
    tz = ZoneInfo(timezone)
    wall = datetime.combine(day, at)
    candidates = [wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    real = [c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == wall]
    if real:
        return min(real)
    # In a gap: the jump lies between the two readings; find it to the second.
    before = int((min(candidates) - _EPOCH).total_seconds()) - 1
    after = int((max(candidates) - _EPOCH).total_seconds()) + 1
    while after - before > 1:
        middle = (before + after) // 2
        instant = _EPOCH + timedelta(seconds=middle)
        if instant.astimezone(tz).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return _EPOCH + timedelta(seconds=after)


def _daypart_ranges(
    schedule: Schedule, timezone: str, lo: datetime, hi: datetime, closed_days: Collection[date]
) -> list[_Interval]:
    ranges: list[_Interval] = []
    # A range that started up to two local days before lo (crossing midnight) may reach it.
    days = _local_days(timezone, lo, hi, before=2)
    for part in schedule.dayparts:
        for day in days:
            if part.weekdays and day.weekday() not in part.weekdays:
                continue
            if not _plays_on(schedule.days, day, closed_days):
                continue
            begin = _wall_to_utc(timezone, day, part.start)
            end_day = day + _DAY if part.end <= part.start else day
            end = _wall_to_utc(timezone, end_day, part.end)
            if end > begin:
                ranges.append((begin, end))
    return ranges


def _cron_runs(
    schedule: Schedule,
    cron: str,
    timezone: str,
    lo: datetime,
    hi: datetime,
    closed_days: Collection[date],
) -> list[_Interval]:
    if schedule.cron_minutes <= 0:
        return []
    length = timedelta(minutes=schedule.cron_minutes)
    tz = ZoneInfo(timezone)
    runs: list[_Interval] = []
    seen = 0
    day = (lo - length).date()  # UTC dates: lo and hi are in UTC
    while day <= hi.date():
        try:
            fires = _cron_fires(cron, timezone, day)
        except ValueError as error:
            raise ValueError(f"schedule {schedule.id}: repeat rule {cron!r}: {error}") from error
        for begin in fires:
            if begin + length <= lo or begin >= hi:
                continue
            seen += 1
            if seen > MAX_OCCURRENCES:
                return runs
            if _plays_on(schedule.days, begin.astimezone(tz).date(), closed_days):
                runs.append((begin, begin + length))
        day += _DAY
    return runs


@lru_cache(maxsize=1024)
def _cron_fires(cron: str, timezone: str, day: date) -> tuple[datetime, ...]:
    """When CronTrigger.from_crontab(cron, timezone) fires during one UTC day, in UTC.

    Cached by day, as many screens share a rule and windows overlap from one build to the next.
    """
    minute, hour, day_of_month, month, day_of_week = crontab_fields(cron)
    first = datetime.combine(day, _MIDNIGHT, UTC)
    end = first + _DAY
    # from_crontab's fields, plus an end date: a rule that never fires (30 February) then
    # gives up at the end of the day instead of searching every year up to 9999.
    trigger = CronTrigger(
        minute=minute,
        hour=hour,
        day=day_of_month,
        month=month,
        day_of_week=day_of_week,
        timezone=ZoneInfo(timezone),
        end_date=end,
    )
    fires: list[datetime] = []
    previous: datetime | None = None  # as APScheduler returned it, fold and all
    last = first - _CRON_LEAD
    while True:  # at most one firing a minute: bounded by the day
        fire: datetime | None = trigger.get_next_fire_time(previous, previous or last)
        if fire is None:
            break
        # Compare in UTC: two fall-back firings share a wall time and differ only by fold.
        begin = fire.astimezone(UTC)
        if begin >= end or (previous is not None and begin <= last):
            break
        if begin >= first:
            fires.append(begin)
        previous, last = fire, begin
    return tuple(fires)


def _clip_and_merge(raw: list[_Interval], lo: datetime, hi: datetime) -> list[_Interval]:
    clipped = sorted((max(b, lo), min(e, hi)) for b, e in raw)
    merged: list[_Interval] = []
    for begin, end in clipped:
        if begin >= end:
            continue
        if merged and begin <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((begin, end))
    return merged


def _sweep(
    zone: str,
    found: list[tuple[_Rank, Schedule, list[_Interval]]],
    default: int | None,
    lo: datetime,
    hi: datetime,
) -> list[Slot]:
    """One pass over the interval boundaries, keeping the active schedules on a heap."""
    events: list[tuple[datetime, int, int]] = []
    for index, (_, _, intervals) in enumerate(found):
        for begin, end in intervals:
            events.append((begin, 1, index))
            events.append((end, -1, index))
    events.sort(key=itemgetter(0))
    active = [0] * len(found)
    heap: list[tuple[_Rank, int]] = []  # may hold inactive entries, dropped once on top
    gap = Slot(zone, lo, lo, default, None, None)
    slots: list[Slot] = []
    showing = gap
    cursor = lo
    i = 0
    while i < len(events):
        at = events[i][0]
        _append(slots, showing, cursor, at)
        while i < len(events) and events[i][0] == at:
            _, delta, index = events[i]
            active[index] += delta
            if delta > 0 and active[index] == 1:
                heapq.heappush(heap, (found[index][0], index))
            i += 1
        while heap and not active[heap[0][1]]:
            heapq.heappop(heap)
        if heap:
            best = found[heap[0][1]][1]
            showing = Slot(zone, lo, lo, best.playlist_id, best.id, best.priority)
        else:
            showing = gap
        cursor = at
    _append(slots, showing, cursor, hi)
    return slots


def _append(slots: list[Slot], showing: Slot, begin: datetime, end: datetime) -> None:
    """Add `showing` over [begin, end), extending the last slot when it shows the same."""
    if begin >= end:
        return
    last = slots[-1] if slots else None
    if (
        last is not None
        and last.end == begin
        and (last.playlist_id, last.schedule_id) == (showing.playlist_id, showing.schedule_id)
    ):
        slots[-1] = replace(last, end=end)
    else:
        slots.append(replace(showing, start=begin, end=end))
