"""Schedules as staff enter them, and their conversion to `content.schedules.Schedule`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.layouts import LAYOUTS
from content.schedules import DayKind, Daypart, Schedule, validate_schedule
from signage import audit, changes, scope
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.models import (
    Closure,
    Playlist,
    ScheduleEntry,
    Screen,
    ScreenGroup,
    Site,
    User,
    screen_group_members,
)
from signage.permissions import Permission, require

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass
class DaypartInput:
    weekdays: list[int]
    start: str  # "HH:MM"
    end: str


@dataclass
class ScheduleInput:
    name: str
    playlist_id: int | None
    target: str  # "screen:<id>" or "group:<id>"
    zone: str
    priority: int
    starts_at: datetime | None
    ends_at: datetime | None
    days: str
    dayparts: list[DaypartInput] = field(default_factory=list)
    cron: str = ""
    cron_minutes: int = 0


def to_content(entry: ScheduleEntry) -> Schedule:
    """The pure form `content.timeline.resolve` works on."""
    return Schedule(
        id=entry.id,
        playlist_id=entry.playlist_id,
        zone=entry.zone,
        priority=entry.priority,
        starts_at=entry.starts_at,
        ends_at=entry.ends_at,
        dayparts=tuple(
            Daypart(
                frozenset(int(d) for d in part.get("weekdays", [])),
                time.fromisoformat(part["start"]),
                time.fromisoformat(part["end"]),
            )
            for part in entry.dayparts
        ),
        cron=entry.cron or None,
        cron_minutes=entry.cron_minutes,
        days=DayKind(entry.days),
    )


async def list_schedules(db: AsyncSession, user: User) -> list[ScheduleEntry]:
    query = (
        sa.select(ScheduleEntry)
        .where(scope.visible(user, ScheduleEntry))
        .order_by(ScheduleEntry.priority.desc(), ScheduleEntry.id)
    )
    return list((await db.scalars(query)).all())


async def for_screen(db: AsyncSession, screen: Screen) -> list[ScheduleEntry]:
    group_ids = sa.select(screen_group_members.c.group_id).where(
        screen_group_members.c.screen_id == screen.id
    )
    condition = sa.or_(ScheduleEntry.screen_id == screen.id, ScheduleEntry.group_id.in_(group_ids))
    return list((await db.scalars(sa.select(ScheduleEntry).where(condition))).all())


async def screens_of(db: AsyncSession, entry: ScheduleEntry) -> set[int]:
    if entry.screen_id is not None:
        return {entry.screen_id}
    rows = await db.scalars(
        sa.select(screen_group_members.c.screen_id).where(
            screen_group_members.c.group_id == entry.group_id
        )
    )
    return set(rows)


async def closures_of(db: AsyncSession, site_id: int, first: date, last: date) -> list[date]:
    rows = await db.scalars(
        sa.select(Closure.day).where(
            Closure.site_id == site_id, Closure.day >= first, Closure.day <= last
        )
    )
    return list(rows)


async def _target(
    db: AsyncSession, user: User, target: str, errors: dict[str, str]
) -> tuple[int | None, int | None, Site | None, str | None]:
    """(screen_id, group_id, site, layout of the screen or None for a group)."""
    kind, _, raw = target.partition(":")
    if kind in {"screen", "group"} and re.fullmatch(r"[0-9]{1,9}", raw):
        if kind == "screen":
            screen = await scope.get(db, user, Screen, int(raw))
            return screen.id, None, screen.site, screen.layout
        group = await scope.get(db, user, ScreenGroup, int(raw))
        return None, group.id, await db.get(Site, group.site_id), None
    errors["target"] = N_("Choose a screen or a group of screens.")
    return None, None, None, None


async def _build(
    db: AsyncSession, user: User, data: ScheduleInput, entry: ScheduleEntry
) -> ScheduleEntry:
    errors: dict[str, str] = {}
    screen_id, group_id, site, layout = await _target(db, user, data.target, errors)
    playlist = None
    if data.playlist_id is None:
        errors["playlist_id"] = N_("Choose one of the options.")
    else:
        # A playlist of the target's site, or one shared by all sites.
        within = scope.ANYWHERE if site is None else site.id
        playlist = await scope.get(db, user, Playlist, data.playlist_id, site=within)
    zones = LAYOUTS[layout].playable_zones() if layout else ["main", "side", "ticker"]
    if data.zone not in zones:
        errors["zone"] = N_("This screen's layout has no such area.")
    if data.days not in {k.value for k in DayKind}:
        errors["days"] = N_("Choose one of the options.")
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(data.dayparts):
        if not _TIME.match(part.start) or not _TIME.match(part.end):
            errors[f"daypart_{index}"] = N_("Enter times as HH:MM, e.g. 08:30.")
        elif any(d not in range(7) for d in part.weekdays):
            errors[f"daypart_{index}"] = N_("Choose one of the options.")
        else:
            parts.append(
                {"weekdays": sorted(set(part.weekdays)), "start": part.start, "end": part.end}
            )
    entry.name, entry.zone, entry.priority = data.name, data.zone, data.priority
    # A target or playlist left out keeps the entry's own, so the form shown again with
    # its errors never writes a schedule without one (the database refuses it).
    if screen_id is not None or group_id is not None:
        entry.screen_id, entry.group_id = screen_id, group_id
    if playlist is not None:
        entry.playlist_id = playlist.id
    entry.starts_at, entry.ends_at, entry.days = data.starts_at, data.ends_at, data.days
    entry.dayparts, entry.cron = parts, data.cron.strip()
    entry.cron_minutes = data.cron_minutes if entry.cron else 0
    if not errors:
        timezone = site.timezone if site else "UTC"
        for key, message in validate_schedule(to_content(entry), timezone).items():
            errors[key] = message
    if errors:
        raise ValidationFailed(errors)
    return entry


def _check_planner(user: User) -> None:
    require(user, Permission.PLAN_SCHEDULES, N_("Only publishers can put content on screens."))


async def get_schedule(db: AsyncSession, user: User, schedule_id: int) -> ScheduleEntry:
    return await scope.get(db, user, ScheduleEntry, schedule_id)


async def create_schedule(
    db: AsyncSession, user: User, ip: str, data: ScheduleInput
) -> ScheduleEntry:
    _check_planner(user)
    entry = await _build(db, user, data, ScheduleEntry(created_by=user.id))
    db.add(entry)
    await db.flush()
    audit.record(
        db,
        user,
        "schedule.create",
        "schedule",
        entry.id,
        entry.name,
        after=entry.audit_view(),
        ip=ip,
    )
    changes.record(db, changes.ScheduleChanged(entry.id))
    return entry


async def update_schedule(
    db: AsyncSession, user: User, ip: str, schedule_id: int, data: ScheduleInput
) -> tuple[ScheduleEntry, set[int]]:
    """Returns the entry and the screens it applied to before the change."""
    _check_planner(user)
    entry = await get_schedule(db, user, schedule_id)
    previous = await screens_of(db, entry)
    before = entry.audit_view()
    await _build(db, user, data, entry)
    after = entry.audit_view()
    if before != after:
        audit.record(
            db,
            user,
            "schedule.update",
            "schedule",
            entry.id,
            entry.name,
            before=before,
            after=after,
            ip=ip,
        )
        changes.record(db, changes.ScheduleChanged(entry.id, frozenset(previous)))
    return entry, previous


async def delete_schedule(db: AsyncSession, user: User, ip: str, schedule_id: int) -> set[int]:
    _check_planner(user)
    entry = await get_schedule(db, user, schedule_id)
    affected = await screens_of(db, entry)
    audit.record(
        db,
        user,
        "schedule.delete",
        "schedule",
        entry.id,
        entry.name,
        before=entry.audit_view(),
        ip=ip,
    )
    await db.delete(entry)
    changes.record(db, changes.ScheduleChanged(entry.id, frozenset(affected)))
    return affected
