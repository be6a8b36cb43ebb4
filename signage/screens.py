"""Screens and screen groups of a site (pairing a device comes with the players)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.layouts import LAYOUTS
from content.protocol import Command
from signage import audit, changes, scope
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.models import (
    Manifest,
    Playlist,
    QueueCounter,
    Screen,
    ScreenGroup,
    Site,
    User,
)
from signage.permissions import Permission, require

COMMANDS: dict[str, Command] = {
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


async def list_screens(db: AsyncSession, user: User) -> list[Screen]:
    query = sa.select(Screen).where(scope.visible(user, Screen))
    return list((await db.scalars(query.order_by(Screen.site_id, Screen.name))).all())


async def list_groups(db: AsyncSession, user: User) -> list[ScreenGroup]:
    query = sa.select(ScreenGroup).where(scope.visible(user, ScreenGroup))
    return list((await db.scalars(query.order_by(ScreenGroup.site_id, ScreenGroup.name))).all())


async def get_screen(db: AsyncSession, user: User, screen_id: int) -> Screen:
    return await scope.get(db, user, Screen, screen_id)


async def _validate(db: AsyncSession, user: User, data: ScreenInput) -> None:
    """What the screen names is of its own site (a playlist may also be shared)."""
    errors: dict[str, str] = {}
    site: int | scope.Anywhere = scope.ANYWHERE
    if not data.site_id:
        errors["site_id"] = N_("Choose one of the options.")
    else:
        site = (await scope.get(db, user, Site, data.site_id)).id
    if not data.name:
        errors["name"] = N_("This field is required.")
    if data.layout not in LAYOUTS:
        errors["layout"] = N_("Choose one of the options.")
    if data.default_playlist_id is not None:
        await scope.get(db, user, Playlist, data.default_playlist_id, site=site)
    if data.counter_id is not None:
        await scope.get(db, user, QueueCounter, data.counter_id, site=site)
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
    require(user, Permission.MANAGE_SCREENS)
    await _validate(db, user, data)
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
    require(user, Permission.MANAGE_SCREENS)
    await _validate(db, user, data)
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
    """Reload, identify or screenshot (of a screen looked up with `get_screen`)."""
    require(user, Permission.MANAGE_SCREENS)
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
