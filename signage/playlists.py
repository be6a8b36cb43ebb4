"""Playlists: ordered items (notice, picture, ticker text, clock), each with a duration."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.notices import text_problem
from signage import audit, changes, scope
from signage.errors import NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import Media, Notice, Playlist, PlaylistItem, Site, User
from signage.permissions import Permission, require

# Playlists put pictures and ticker text on screens directly, so only those who may
# publish change them: nothing reaches a screen without a publisher.
ITEM_KINDS = ("notice", "image", "ticker", "clock", "queue_board")
MIN_SECONDS, MAX_SECONDS = 3, 3600


@dataclass
class ItemInput:
    kind: str
    notice_id: int | None = None
    media_id: int | None = None
    text: str = ""
    duration_seconds: int = 10


async def list_playlists(db: AsyncSession, user: User) -> list[Playlist]:
    query = sa.select(Playlist).where(scope.visible(user, Playlist)).order_by(Playlist.name)
    return list((await db.scalars(query)).all())


async def get_playlist(
    db: AsyncSession, user: User, playlist_id: int, *, change: bool = False
) -> Playlist:
    return await scope.get(db, user, Playlist, playlist_id, change=change)


def _check_editor(user: User) -> None:
    require(user, Permission.EDIT_PLAYLISTS, N_("Only publishers can change playlists."))


async def create_playlist(
    db: AsyncSession, user: User, ip: str, name: str, site_id: int | None
) -> Playlist:
    _check_editor(user)
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = N_("This field is required.")
    if site_id is not None:
        await scope.get(db, user, Site, site_id)
    elif user.site_id is not None:
        errors["site_id"] = N_("You can only work on your own site.")
    if errors:
        raise ValidationFailed(errors)
    playlist = Playlist(name=name, site_id=site_id, items=[])
    db.add(playlist)
    await db.flush()
    audit.record(
        db,
        user,
        "playlist.create",
        "playlist",
        playlist.id,
        name,
        after=playlist.audit_view(),
        ip=ip,
    )
    return playlist


async def _validate_item(
    db: AsyncSession, user: User, playlist: Playlist, item: ItemInput
) -> PlaylistItem:
    """Items name notices and pictures of the playlist's site, or shared ones."""
    errors: dict[str, str] = {}
    if item.kind not in ITEM_KINDS:
        errors["kind"] = N_("Choose one of the options.")
    if not MIN_SECONDS <= item.duration_seconds <= MAX_SECONDS:
        errors["duration_seconds"] = N_("This number is out of range.")
    # The rows are kept on the item, so the page drawn right after shows them (no lazy load).
    notice: Notice | None = None
    picture: Media | None = None
    if item.kind == "notice":
        if item.notice_id is None:
            errors["notice_id"] = N_("Choose a notice.")
        else:
            notice = await scope.get(db, user, Notice, item.notice_id, site=playlist.site_id)
    if item.kind == "image":
        if item.media_id is None:
            errors["media_id"] = N_("Choose a picture.")
        else:
            picture = await scope.get(db, user, Media, item.media_id, site=playlist.site_id)
    if item.kind == "ticker":
        problem = text_problem(item.text)
        if not item.text.strip():
            errors["text"] = N_("Write the text to show.")
        elif problem:
            errors["text"] = problem
    if errors:
        raise ValidationFailed(errors)
    return PlaylistItem(
        kind=item.kind,
        notice=notice if item.kind == "notice" else None,
        media=picture if item.kind == "image" else None,
        text=item.text.strip() if item.kind == "ticker" else "",
        duration_seconds=item.duration_seconds,
    )


async def add_item(
    db: AsyncSession, user: User, ip: str, playlist_id: int, item: ItemInput
) -> Playlist:
    _check_editor(user)
    playlist = await get_playlist(db, user, playlist_id, change=True)
    before = playlist.audit_view()
    row = await _validate_item(db, user, playlist, item)
    row.position = max((i.position for i in playlist.items), default=-1) + 1
    playlist.items.append(row)
    return await _saved(db, user, ip, playlist, before)


async def change_item(
    db: AsyncSession, user: User, ip: str, playlist_id: int, item_id: int, move: str
) -> Playlist:
    """Move an item up or down, or remove it."""
    _check_editor(user)
    playlist = await get_playlist(db, user, playlist_id, change=True)
    items = list(playlist.items)
    index = next((i for i, row in enumerate(items) if row.id == item_id), None)
    if index is None:
        raise NotFound(N_("This item is no longer in the playlist."))
    before = playlist.audit_view()
    if move == "remove":
        playlist.items.remove(items[index])
        items.pop(index)
    elif move in {"up", "down"}:
        other = index - 1 if move == "up" else index + 1
        if 0 <= other < len(items):
            items[index], items[other] = items[other], items[index]
    else:
        raise ValidationFailed({"move": N_("Choose one of the options.")})
    for position, row in enumerate(items):
        row.position = position
    return await _saved(db, user, ip, playlist, before)


async def _saved(
    db: AsyncSession, user: User, ip: str, playlist: Playlist, before: dict[str, object]
) -> Playlist:
    """Write a change of items and audit it with the items before and after."""
    await db.flush()
    await db.refresh(playlist, ["items"])
    audit.record(
        db,
        user,
        "playlist.update",
        "playlist",
        playlist.id,
        playlist.name,
        before=before,
        after=playlist.audit_view(),
        ip=ip,
    )
    changes.record(db, changes.PlaylistChanged(playlist.id))
    return playlist
