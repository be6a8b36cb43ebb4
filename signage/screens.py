"""Screens and screen groups of a site (pairing a device comes with the players)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.layouts import LAYOUTS
from signage import audit, changes
from signage.errors import Forbidden, NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import (
    Manifest,
    Playlist,
    QueueCounter,
    Role,
    Screen,
    ScreenGroup,
    Site,
    User,
)

MANAGERS = {Role.ADMIN, Role.PUBLISHER}
COMMANDS: dict[str, dict[str, Any]] = {
    "reload": {"kind": "reload"},
    "identify": {"kind": "identify", "seconds": 10},
    "screenshot": {"kind": "screenshot"},
}


@dataclass
class ScreenInput:
    site_id: int
    name: str
    layout: str
    default_playlist_id: int | None
    groups: list[str]
    silent: bool = False
    counter_id: int | None = None  # a screen above this counter shows only its calls


def _check_manager(user: User, site_id: int | None) -> None:
    if user.role not in MANAGERS:
        raise Forbidden()
    if user.site_id is not None and site_id is not None and site_id != user.site_id:
        raise Forbidden(N_("This belongs to another site."))


async def list_screens(db: AsyncSession, user: User) -> list[Screen]:
    query = sa.select(Screen).order_by(Screen.site_id, Screen.name)
    if user.site_id is not None:
        query = query.where(Screen.site_id == user.site_id)
    return list((await db.scalars(query)).all())


async def list_groups(db: AsyncSession, user: User) -> list[ScreenGroup]:
    query = sa.select(ScreenGroup).order_by(ScreenGroup.site_id, ScreenGroup.name)
    if user.site_id is not None:
        query = query.where(ScreenGroup.site_id == user.site_id)
    return list((await db.scalars(query)).all())


async def get_screen(db: AsyncSession, user: User, screen_id: int) -> Screen:
    screen = await db.get(Screen, screen_id)
    if screen is None or (user.site_id is not None and screen.site_id != user.site_id):
        raise NotFound(N_("This screen does not exist."))
    return screen


async def _validate(db: AsyncSession, data: ScreenInput) -> None:
    errors: dict[str, str] = {}
    if await db.get(Site, data.site_id) is None:
        errors["site_id"] = N_("Choose one of the options.")
    if not data.name:
        errors["name"] = N_("This field is required.")
    if data.layout not in LAYOUTS:
        errors["layout"] = N_("Choose one of the options.")
    if data.default_playlist_id is not None:
        playlist = await db.get(Playlist, data.default_playlist_id)
        if playlist is None or playlist.site_id not in (None, data.site_id):
            errors["default_playlist_id"] = N_("Choose one of the options.")
    if data.counter_id is not None:
        counter = await db.get(QueueCounter, data.counter_id)
        if counter is None or counter.site_id != data.site_id:
            errors["counter_id"] = N_("Choose a counter of the screen's site.")
    if any(len(name) > 100 for name in data.groups):
        errors["groups"] = N_("This is too long.")
    if errors:
        raise ValidationFailed(errors)


async def _groups(db: AsyncSession, site_id: int, names: list[str]) -> list[ScreenGroup]:
    found = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        group = await db.scalar(
            sa.select(ScreenGroup).where(ScreenGroup.site_id == site_id, ScreenGroup.name == name)
        )
        if group is None:
            group = ScreenGroup(site_id=site_id, name=name)
            db.add(group)
        found.append(group)
    return found


async def create_screen(db: AsyncSession, user: User, ip: str, data: ScreenInput) -> Screen:
    _check_manager(user, data.site_id)
    await _validate(db, data)
    screen = Screen(
        site_id=data.site_id,
        name=data.name,
        layout=data.layout,
        default_playlist_id=data.default_playlist_id,
        groups=await _groups(db, data.site_id, data.groups),
        silent=data.silent,
        counter_id=data.counter_id,
    )
    db.add(screen)
    await db.flush()
    audit.record(
        db,
        user,
        "screen.create",
        "screen",
        screen.id,
        screen.name,
        after=screen.audit_view(),
        ip=ip,
    )
    changes.record(db, changes.ScreenChanged(screen.id))
    return screen


async def update_screen(
    db: AsyncSession, user: User, ip: str, screen_id: int, data: ScreenInput
) -> Screen:
    screen = await get_screen(db, user, screen_id)
    _check_manager(user, data.site_id)
    await _validate(db, data)
    before = screen.audit_view()
    screen.site_id, screen.name, screen.layout = data.site_id, data.name, data.layout
    screen.default_playlist_id = data.default_playlist_id
    screen.groups = await _groups(db, data.site_id, data.groups)
    screen.silent, screen.counter_id = data.silent, data.counter_id
    after = screen.audit_view()
    if before != after:
        audit.record(
            db,
            user,
            "screen.update",
            "screen",
            screen.id,
            screen.name,
            before=before,
            after=after,
            ip=ip,
        )
        changes.record(db, changes.ScreenChanged(screen.id))
    return screen


def send_command(db: AsyncSession, user: User, ip: str, screen: Screen, command: str) -> None:
    """Reload, identify or screenshot: reaches the screen at once if it is online."""
    _check_manager(user, screen.site_id)
    audit.record(db, user, f"screen.{command}", "screen", screen.id, screen.name, ip=ip)
    changes.record(db, changes.ScreenCommand(screen.id, COMMANDS[command]))


async def manifest_of(db: AsyncSession, screen_id: int) -> Manifest:
    """The screen's manifest, built now if it has none yet (a screen made without one)."""
    manifest = await db.get(Manifest, screen_id)
    if manifest is None:
        changes.record(db, changes.ScreenChanged(screen_id))
        await changes.settle(db)
        manifest = await db.get(Manifest, screen_id)
    assert manifest is not None
    return manifest
