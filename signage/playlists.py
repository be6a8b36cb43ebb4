"""Playlists: ordered items (notice, picture, ticker text, clock), each with a duration."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.notices import text_problem
from signage import audit, changes
from signage.errors import Forbidden, NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import Media, Notice, Playlist, PlaylistItem, Role, Site, User

# Playlists put pictures and ticker text on screens directly, so only those who may
# publish change them: nothing reaches a screen without a publisher.
EDITORS = {Role.ADMIN, Role.PUBLISHER}
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
    query = sa.select(Playlist).order_by(Playlist.name)
    if user.site_id is not None:
        query = query.where(sa.or_(Playlist.site_id == user.site_id, Playlist.site_id.is_(None)))
    return list((await db.scalars(query)).all())


async def get_playlist(db: AsyncSession, user: User, playlist_id: int) -> Playlist:
    playlist = await db.get(Playlist, playlist_id)
    if playlist is None or (
        user.site_id is not None and playlist.site_id not in (None, user.site_id)
    ):
        raise NotFound(N_("This playlist does not exist."))
    return playlist


def _check_editor(user: User, playlist: Playlist | None = None) -> None:
    if user.role not in EDITORS:
        raise Forbidden(N_("Only publishers can change playlists."))
    if playlist is not None and user.site_id is not None and playlist.site_id != user.site_id:
        raise Forbidden(N_("This belongs to another site."))


async def create_playlist(
    db: AsyncSession, user: User, ip: str, name: str, site_id: int | None
) -> Playlist:
    _check_editor(user)
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = N_("This field is required.")
    if site_id is not None and await db.get(Site, site_id) is None:
        errors["site_id"] = N_("Choose one of the options.")
    if user.site_id is not None and site_id != user.site_id:
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


def _of_users_sites(user: User, row: Notice | Media | None) -> bool:
    return row is not None and (user.site_id is None or row.site_id in (None, user.site_id))


async def _validate_item(db: AsyncSession, user: User, item: ItemInput) -> PlaylistItem:
    errors: dict[str, str] = {}
    if item.kind not in ITEM_KINDS:
        errors["kind"] = N_("Choose one of the options.")
    if not MIN_SECONDS <= item.duration_seconds <= MAX_SECONDS:
        errors["duration_seconds"] = N_("This number is out of range.")
    # The rows are kept on the item, so the page drawn right after shows them (no lazy load).
    notice = await db.get(Notice, item.notice_id) if item.notice_id is not None else None
    picture = await db.get(Media, item.media_id) if item.media_id is not None else None
    if item.kind == "notice" and not _of_users_sites(user, notice):
        errors["notice_id"] = N_("Choose a notice.")
    if item.kind == "image" and not _of_users_sites(user, picture):
        errors["media_id"] = N_("Choose a picture.")
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
    playlist = await get_playlist(db, user, playlist_id)
    _check_editor(user, playlist)
    before = playlist.audit_view()
    row = await _validate_item(db, user, item)
    row.position = max((i.position for i in playlist.items), default=-1) + 1
    playlist.items.append(row)
    return await _saved(db, user, ip, playlist, before)


async def change_item(
    db: AsyncSession, user: User, ip: str, playlist_id: int, item_id: int, move: str
) -> Playlist:
    """Move an item up or down, or remove it."""
    playlist = await get_playlist(db, user, playlist_id)
    _check_editor(user, playlist)
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
