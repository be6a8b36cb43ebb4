"""Manifests: for each screen, its layout, 48-hour timeline and every file it needs.

A manifest is rebuilt whenever something it depends on changes (a notice, a playlist, a
schedule, a screen, a closure; signage/changes.py decides which) and on the hour, as the
window moves on. Its version rises
only when its content changes, so players download only what is new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from content import protocol
from content.calendar import closed_days, days_around
from content.layouts import LAYOUTS
from content.notices import NoticeStatus, render_body
from content.schedules import Schedule
from content.timeline import resolve
from signage import schedules
from signage.db import utcnow
from signage.models import (
    Manifest,
    Media,
    Notice,
    Playlist,
    PlaylistItem,
    QueueCounter,
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
    return _when(value) if value else None


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _rendition_for(media: Media, orientation: str) -> protocol.MediaFile | None:
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


class Inputs:
    """Everything the manifests of a set of screens depend on, loaded in a few queries, so
    rebuilding a thousand screens does not cost a thousand round trips per table."""

    def __init__(self) -> None:
        self.entries: dict[int, list[Schedule]] = {}
        self.playlists: dict[int, Playlist] = {}
        self.sites: dict[int, Site] = {}
        self.closed: dict[tuple[int, date], frozenset[date]] = {}

    @classmethod
    async def load(cls, db: AsyncSession, screens: list[Screen]) -> Inputs:
        inputs = cls()
        screen_ids = [s.id for s in screens]
        groups: dict[int, set[int]] = {}
        for group_id, screen_id in await db.execute(
            sa.select(screen_group_members.c.group_id, screen_group_members.c.screen_id).where(
                screen_group_members.c.screen_id.in_(screen_ids)
            )
        ):
            groups.setdefault(group_id, set()).add(screen_id)
        rows = await db.scalars(
            sa.select(ScheduleEntry).where(
                sa.or_(
                    ScheduleEntry.screen_id.in_(screen_ids),
                    ScheduleEntry.group_id.in_(list(groups)),
                )
            )
        )
        playlist_ids = {s.default_playlist_id for s in screens if s.default_playlist_id}
        for entry in rows:
            targets = (
                {entry.screen_id} if entry.screen_id else groups.get(entry.group_id or 0, set())
            )
            converted = schedules.to_content(entry)
            for screen_id in targets:
                inputs.entries.setdefault(screen_id or 0, []).append(converted)
            playlist_ids.add(entry.playlist_id)
        notice = selectinload(Playlist.items).selectinload(PlaylistItem.notice)
        inputs.playlists = {
            p.id: p
            for p in await db.scalars(
                sa.select(Playlist)
                .where(Playlist.id.in_(playlist_ids))
                .options(
                    selectinload(Playlist.items)
                    .selectinload(PlaylistItem.media)
                    .selectinload(Media.renditions),
                    notice.selectinload(Notice.texts),
                    notice.selectinload(Notice.image).selectinload(Media.renditions),
                )
                .execution_options(populate_existing=True)
            )
        }
        site_ids = {s.site_id for s in screens}
        inputs.sites = {
            site.id: site for site in await db.scalars(sa.select(Site).where(Site.id.in_(site_ids)))
        }
        return inputs

    async def closed_days(self, db: AsyncSession, site: Site, start: datetime) -> frozenset[date]:
        local_start = start.astimezone(ZoneInfo(site.timezone)).date()
        key = (site.id, local_start)
        if key not in self.closed:
            first, last = days_around(local_start, HOURS + 1)
            own = await schedules.closures_of(db, site.id, first, last)
            self.closed[key] = closed_days(first, last, own)
        return self.closed[key]


async def build(
    db: AsyncSession, screen: Screen, now: datetime, inputs: Inputs | None = None
) -> protocol.Manifest:
    """The manifest body for `screen` from `now` (without version and build time)."""
    if inputs is None:
        inputs = await Inputs.load(db, [screen])
    layout = LAYOUTS[screen.layout]
    site = inputs.sites[screen.site_id]
    start = window_start(now)
    closed = await inputs.closed_days(db, site, start)
    zones = layout.playable_zones()
    defaults: dict[str, int | None] = {zone: None for zone in zones}
    defaults["main"] = screen.default_playlist_id
    entries = inputs.entries.get(screen.id, [])
    slots = resolve(entries, zones, defaults, site.timezone, start, HOURS + 1, closed)
    notices: dict[str, protocol.NoticeBody] = {}
    files: dict[str, protocol.MediaFile] = {}

    def item_of(row: PlaylistItem) -> protocol.Item | None:
        item: protocol.Item = {"type": row.kind, "duration": row.duration_seconds}
        if row.kind == "notice":
            notice = row.notice
            if notice is None or notice.status != NoticeStatus.APPROVED:
                return None  # nothing reaches a screen unapproved
            item["notice"] = notice.id
            item["from"], item["until"] = _iso(notice.valid_from), _iso(notice.valid_until)
            if str(notice.id) not in notices:
                notices[str(notice.id)] = _notice_body(
                    notice, layout.orientation, site.languages.split(","), files
                )
        elif row.kind == "image":
            picture = _rendition_for(row.media, layout.orientation) if row.media else None
            if picture is None:
                return None
            files[picture["file"]] = picture
            item["file"] = picture["file"]
        elif row.kind == "ticker":
            item["text"] = row.text
        return item

    def items_of(playlist_id: int | None) -> list[protocol.Item]:
        playlist = inputs.playlists.get(playlist_id) if playlist_id else None
        return [i for i in (item_of(r) for r in playlist.items) if i] if playlist else []

    fallback: dict[str, list[protocol.Item]] = {}
    if screen.default_playlist_id:
        fallback["main"] = items_of(screen.default_playlist_id)
    timeline: dict[str, list[protocol.Slot]] = {
        zone: [
            {
                "start": _when(slot.start),
                "end": _when(slot.end),
                "schedule": slot.schedule_id,
                "playlist": slot.playlist_id,
                "items": items_of(slot.playlist_id),
            }
            for slot in zone_slots
        ]
        for zone, zone_slots in slots.items()
    }
    counter = await db.get(QueueCounter, screen.counter_id) if screen.counter_id else None
    return {
        "protocol": PROTOCOL_VERSION,
        "screen": {"id": screen.id, "name": screen.name},
        # How this screen shows queue calls (they come as events, the board as state).
        "queue": {
            "silent": screen.silent,
            "counter": {"id": counter.id, "number": counter.number, "name": counter.name}
            if counter
            else None,
        },
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
        "media": sorted(files.values(), key=lambda f: f["file"]),
    }


def _notice_body(
    notice: Notice, orientation: str, languages: list[str], files: dict[str, protocol.MediaFile]
) -> protocol.NoticeBody:
    """A notice's texts in the site's languages, in the site's order (all of its texts if
    none of them is in a language the site shows)."""
    order = {code: index for index, code in enumerate(languages)}
    shown = sorted(
        (t for t in notice.texts if t.language in order), key=lambda t: order[t.language]
    )
    shown = shown or list(notice.texts)
    picture = _rendition_for(notice.image, orientation) if notice.image else None
    if picture:
        files[picture["file"]] = picture
    return {
        "style": notice.style,
        "image": picture["file"] if picture else None,
        "texts": [
            {"language": t.language, "title": t.title, "html": render_body(t.body)} for t in shown
        ],
    }


def content_hash(body: protocol.Manifest) -> str:
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


class Rebuilt(NamedTuple):
    screen_id: int
    version: int
    body: protocol.Manifest


async def rebuild(
    db: AsyncSession, screen_ids: Iterable[int], now: datetime | None = None
) -> list[Rebuilt]:
    """Rebuild these screens' manifests; returns those whose content changed. Called by
    signage/changes.py, which hands them to the hub after commit."""
    now = now or utcnow()
    await db.flush()
    changed: list[Rebuilt] = []
    screens = list(
        await db.scalars(
            sa.select(Screen).where(Screen.id.in_(set(screen_ids))).order_by(Screen.id)
        )
    )
    if not screens:
        return changed
    inputs = await Inputs.load(db, screens)
    current = {
        m.screen_id: m
        for m in await db.scalars(
            sa.select(Manifest).where(Manifest.screen_id.in_([s.id for s in screens]))
        )
    }
    for screen in screens:
        screen_id = screen.id
        body = await build(db, screen, now, inputs)
        digest = content_hash(body)
        manifest = current.get(screen_id)
        if manifest is None:
            db.add(
                Manifest(
                    screen_id=screen_id, version=1, content_hash=digest, body=body, built_at=now
                )
            )
            changed.append(Rebuilt(screen_id, 1, body))
        elif manifest.content_hash != digest:
            manifest.version += 1
            manifest.content_hash, manifest.body, manifest.built_at = digest, body, now
            changed.append(Rebuilt(screen_id, manifest.version, body))
    return changed


async def screens_for_playlists(db: AsyncSession, playlist_ids: set[int]) -> set[int]:
    """Screens that play one of these playlists: by default, or scheduled alone or in a
    group."""
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


async def current(db: AsyncSession, screen_id: int) -> Manifest | None:
    return await db.get(Manifest, screen_id)
