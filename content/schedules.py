"""Schedules: which playlist plays in which zone, when; and the slots they resolve into.

Times of day are wall-clock times in the site's time zone; instants are aware datetimes.
`content.timeline.resolve` turns schedules into slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from content import N_


@dataclass(frozen=True)
class Daypart:
    """A daily range of wall-clock time, on some weekdays."""

    weekdays: frozenset[int]  # 0=Monday .. 6=Sunday; empty means every day
    start: time  # wall-clock time in the site's zone
    end: time  # end <= start: ends the next day; end == start: a whole 24 hours


class DayKind(StrEnum):
    """Which days a schedule plays on."""

    ALL = "all"  # every day
    OPEN = "open"  # only days the office is open
    CLOSED = "closed"  # only public holidays and the site's closures


@dataclass(frozen=True)
class Schedule:
    """A playlist in a zone: active within [starts_at, ends_at), in its dayparts or cron runs."""

    id: int
    playlist_id: int
    zone: str  # zone name of the layout, e.g. "main", "side", "ticker"
    priority: int = 0  # higher wins in its zone while active
    starts_at: datetime | None = None  # aware; None = since ever
    ends_at: datetime | None = None  # aware; None = for ever
    dayparts: tuple[Daypart, ...] = ()  # with no cron either: all day
    # Crontab "minute hour day month day_of_week" as in classic cron (weekday 0 or 7 is
    # Sunday, 1-5 is Monday to Friday; names like mon-fri work too): each firing starts a
    # run of cron_minutes minutes. See `crontab_fields`.
    cron: str | None = None
    cron_minutes: int = 0
    days: DayKind = DayKind.ALL


@dataclass(frozen=True)
class Slot:
    """What plays in one zone from start to end (UTC)."""

    zone: str
    start: datetime
    end: datetime
    playlist_id: int | None  # None only when nothing is scheduled and the zone has no default
    schedule_id: int | None  # None for the zone's default playlist
    priority: int | None


MESSAGES = {
    "order": N_("The end must be after the start."),
    "timezone": N_("Unknown time zone. Use a name such as Asia/Tokyo."),
    "cron": N_("This repeat rule is not valid. Use five fields: minute hour day month weekday."),
    "cron_minutes": N_("Enter how long each repeat lasts, in minutes (more than 0)."),
    "weekdays": N_("Weekdays must be numbers from 0 (Monday) to 6 (Sunday)."),
    "naive": N_("Enter a date and time with a time zone."),
}


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC_DAYS = re.compile(r"^(\d)(?:-(\d))?(?:/(\d+))?$")


def _classic_weekdays(field: str) -> str:
    """Classic cron weekday numbers (0 and 7 = Sunday) as the day names APScheduler reads
    unambiguously: its own numbers start at Monday, which is not what people type."""
    parts = []
    for part in field.lower().split(","):
        match = _NUMERIC_DAYS.match(part)
        if not match:
            parts.append(part)  # "*", "*/2", names, "mon-fri": the same in both
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        step = int(match.group(3)) if match.group(3) else 1
        if first > 7 or last > 7 or first > last or step < 1:
            raise ValueError(f"weekday range {part!r} is not valid")
        parts.extend(dict.fromkeys(_DAY_NAMES[day] for day in range(first, last + 1, step)))
    return ",".join(dict.fromkeys(parts))


def crontab_fields(expr: str) -> tuple[str, str, str, str, str]:
    """minute, hour, day, month and day_of_week of a five-field crontab, weekdays in
    classic cron meaning; raises ValueError."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, day_of_week = fields
    return minute, hour, day, month, _classic_weekdays(day_of_week)


def zone_info(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def validate_schedule(s: Schedule, timezone: str) -> dict[str, str]:
    """Field name -> English message for each mistake in `s`; empty when it is fine."""
    errors: dict[str, str] = {}
    try:
        zone_info(timezone)
    except ValueError:
        errors["timezone"] = MESSAGES["timezone"]
    for field, value in (("starts_at", s.starts_at), ("ends_at", s.ends_at)):
        if value is not None and value.utcoffset() is None:
            errors[field] = MESSAGES["naive"]
    if (
        s.starts_at is not None
        and s.ends_at is not None
        and not errors.keys() & {"starts_at", "ends_at"}
        and s.ends_at <= s.starts_at
    ):
        errors["ends_at"] = MESSAGES["order"]
    if any(day not in range(7) for part in s.dayparts for day in part.weekdays):
        errors["dayparts"] = MESSAGES["weekdays"]
    if s.cron is not None and s.cron.strip():
        try:
            # Parsed in UTC so a bad time zone is reported once, on its own field.
            minute, hour, day, month, day_of_week = crontab_fields(s.cron)
            CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=day_of_week,
                timezone=UTC,
            )
        except ValueError:
            errors["cron"] = MESSAGES["cron"]
        if s.cron_minutes <= 0:
            errors["cron_minutes"] = MESSAGES["cron_minutes"]
    return errors
