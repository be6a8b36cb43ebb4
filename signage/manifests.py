"""Manifests: for each screen, its layout, 48-hour timeline and every file it needs.

A manifest is rebuilt whenever something it depends on changes (a notice, a playlist, a
schedule, a screen, a closure) and on the hour, as the window moves on. Its version rises
only when its content changes, so players download only what is new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from content.calendar import closed_days, days_around
from content.layouts import LAYOUTS
from content.notices import NoticeStatus, render_body
from content.timeline import resolve
from signage import schedules
from signage.db import utcnow
from signage.models import (
    Manifest,
    Media,
    Notice,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
    Screen,
    Site,
    screen_group_members,
)

HOURS = 48
PROTOCOL_VERSION = 1


def window_start(now: datetime) -> datetime:
    """Timelines start on the hour, so a rebuild within the hour changes nothing."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _rendition_for(media: Media, orientation: str) -> dict[str, Any] | None:
    rendition = media.rendition("1080x1920" if orientation == "portrait" else "1920x1080")
    if rendition is None:
        return None
    return {
        "file": rendition.filename,
        "sha256": rendition.sha256,
        "size": rendition.size_bytes,
        "content_type": rendition.content_type,
        "width": rendition.width,
        "height": rendition.height,
    }


async def build(db: AsyncSession, screen: Screen, now: datetime) -> dict[str, Any]:
    """The manifest body for `screen` from `now` (without version and build time)."""
    layout = LAYOUTS[screen.layout]
    site = await db.get(Site, screen.site_id)
    assert site is not None
    start = window_start(now)
    local_start = start.astimezone(ZoneInfo(site.timezone)).date()
    first, last = days_around(local_start, HOURS + 1)
    closed = closed_days(first, last, await schedules.closures_of(db, site.id, first, last))
    entries = [schedules.to_content(e) for e in await schedules.for_screen(db, screen)]
    zones = layout.playable_zones()
    defaults: dict[str, int | None] = {zone: None for zone in zones}
    defaults["main"] = screen.default_playlist_id
    slots = resolve(entries, zones, defaults, site.timezone, start, HOURS + 1, closed)

    playlist_ids = {s.playlist_id for zone in slots.values() for s in zone if s.playlist_id}
    playlists = {
        p.id: p for p in await db.scalars(sa.select(Playlist).where(Playlist.id.in_(playlist_ids)))
    }
    notices: dict[str, Any] = {}
    files: dict[str, dict[str, Any]] = {}

    def item_of(row: PlaylistItem) -> dict[str, Any] | None:
        item: dict[str, Any] = {"type": row.kind, "duration": row.duration_seconds}
        if row.kind == "notice":
            notice = row.notice
            if notice is None or notice.status != NoticeStatus.APPROVED:
                return None  # nothing reaches a screen unapproved
            item["notice"] = notice.id
            item["from"], item["until"] = _iso(notice.valid_from), _iso(notice.valid_until)
            if str(notice.id) not in notices:
                notices[str(notice.id)] = _notice_body(notice, layout.orientation, files)
        elif row.kind == "image":
            picture = _rendition_for(row.media, layout.orientation) if row.media else None
            if picture is None:
                return None
            files[picture["file"]] = picture
            item["file"] = picture["file"]
        elif row.kind == "ticker":
            item["text"] = row.text
        return item

    fallback: dict[str, list[dict[str, Any]]] = {}
    default = (
        await db.scalar(
            sa.select(Playlist)
            .where(Playlist.id == screen.default_playlist_id)
            .options(
                selectinload(Playlist.items, PlaylistItem.media, Media.renditions),
                selectinload(Playlist.items, PlaylistItem.notice, Notice.texts),
            )
        )
        if screen.default_playlist_id
        else None
    )
    if default is not None:
        fallback["main"] = [i for i in (item_of(r) for r in default.items) if i]
    timeline: dict[str, list[dict[str, Any]]] = {}
    for zone, zone_slots in slots.items():
        timeline[zone] = []
        for slot in zone_slots:
            playlist = playlists.get(slot.playlist_id) if slot.playlist_id else None
            items = [i for i in (item_of(r) for r in playlist.items) if i] if playlist else []
            timeline[zone].append(
                {
                    "start": _iso(slot.start),
                    "end": _iso(slot.end),
                    "schedule": slot.schedule_id,
                    "playlist": slot.playlist_id,
                    "items": items,
                }
            )
    return {
        "protocol": PROTOCOL_VERSION,
        "screen": {"id": screen.id, "name": screen.name},
        "site": {
            "id": site.id,
            "name": site.name,
            "name_en": site.name_en,
            "timezone": site.timezone,
            "languages": site.languages.split(","),
        },
        "layout": {
            "key": layout.key,
            "orientation": layout.orientation,
            "zones": [
                {
                    "name": z.name,
                    "kind": z.kind.value,
                    "x": z.x,
                    "y": z.y,
                    "width": z.width,
                    "height": z.height,
                }
                for z in layout.zones
            ],
        },
        "from": _iso(start),
        "until": _iso(start + timedelta(hours=HOURS + 1)),
        "timeline": timeline,
        # Shown in a zone whose slot has nothing valid at the moment (never a blank zone).
        "fallback": fallback,
        "notices": notices,
        "media": sorted(files.values(), key=lambda f: str(f["file"])),
    }


def _notice_body(
    notice: Notice, orientation: str, files: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    picture = _rendition_for(notice.image, orientation) if notice.image else None
    if picture:
        files[picture["file"]] = picture
    return {
        "style": notice.style,
        "image": picture["file"] if picture else None,
        "texts": [
            {"language": t.language, "title": t.title, "html": render_body(t.body)}
            for t in notice.texts
        ],
    }


def content_hash(body: dict[str, Any]) -> str:
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


async def rebuild(
    db: AsyncSession, screen_ids: Iterable[int], now: datetime | None = None
) -> list[int]:
    """Rebuild these screens' manifests; returns the ids whose content changed."""
    now = now or utcnow()
    await db.flush()
    changed: list[int] = []
    for screen_id in sorted(set(screen_ids)):
        screen = await db.get(Screen, screen_id)
        if screen is None:
            continue
        body = await build(db, screen, now)
        digest = content_hash(body)
        manifest = await db.get(Manifest, screen_id)
        if manifest is None:
            db.add(
                Manifest(
                    screen_id=screen_id, version=1, content_hash=digest, body=body, built_at=now
                )
            )
            changed.append(screen_id)
        elif manifest.content_hash != digest:
            manifest.version += 1
            manifest.content_hash, manifest.body, manifest.built_at = digest, body, now
            changed.append(screen_id)
    return changed


async def screens_for_playlists(db: AsyncSession, playlist_ids: set[int]) -> set[int]:
    if not playlist_ids:
        return set()
    direct = await db.scalars(
        sa.select(Screen.id).where(Screen.default_playlist_id.in_(playlist_ids))
    )
    by_screen = await db.scalars(
        sa.select(ScheduleEntry.screen_id).where(
            ScheduleEntry.playlist_id.in_(playlist_ids), ScheduleEntry.screen_id.is_not(None)
        )
    )
    by_group = await db.scalars(
        sa.select(screen_group_members.c.screen_id)
        .join(ScheduleEntry, ScheduleEntry.group_id == screen_group_members.c.group_id)
        .where(ScheduleEntry.playlist_id.in_(playlist_ids))
    )
    return {i for i in [*direct, *by_screen, *by_group] if i is not None}


async def rebuild_for_playlist(db: AsyncSession, playlist_id: int) -> list[int]:
    return await rebuild(db, await screens_for_playlists(db, {playlist_id}))


async def rebuild_for_notice(db: AsyncSession, notice_id: int) -> list[int]:
    playlist_ids = set(
        await db.scalars(
            sa.select(PlaylistItem.playlist_id).where(PlaylistItem.notice_id == notice_id)
        )
    )
    return await rebuild(db, await screens_for_playlists(db, playlist_ids))


async def rebuild_all(db: AsyncSession, now: datetime | None = None) -> list[int]:
    return await rebuild(db, list(await db.scalars(sa.select(Screen.id))), now)


async def current(db: AsyncSession, screen_id: int) -> Manifest | None:
    return await db.get(Manifest, screen_id)
