"""Playlists: create, add items (notice, picture, ticker, clock), reorder, remove."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import media, notices, playlists, sites, words
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.models import Playlist, User
from signage.permissions import Permission, require
from signage.submissions import once
from signage.web import Form, client_ip, read_form, redirect, render, staff_view, translate

KIND_LABELS = words.ITEM_KINDS


@staff_view(Permission.SEE_PLAYLISTS)
@once
async def playlist_list(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        require(user, Permission.EDIT_PLAYLISTS, N_("Only publishers can change playlists."))
        form = Form(await read_form(request))
        name = form.text("name", max_length=100)
        site_id = form.optional_id("site_id")
        try:
            form.check()
            playlist = await playlists.create_playlist(db, user, client_ip(request), name, site_id)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
        else:
            return redirect(request, f"/playlists/{playlist.id}")
    return render(
        request,
        "playlist_list.html",
        {
            "playlists": await playlists.list_playlists(db, user),
            "site_choices": await sites.sites_for(db, user),
            "errors": errors,
            "values": {"site_id": user.site_id or ""},
        },
        status_code=status_code,
    )


async def _detail(
    request: Request,
    db: AsyncSession,
    playlist: Playlist,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    user: User = request.state.user
    return render(
        request,
        "playlist_detail.html",
        {
            "playlist": playlist,
            "errors": errors,
            "kind_options": [(k, translate(request, v)) for k, v in KIND_LABELS.items()],
            "kind_labels": KIND_LABELS,
            "notice_options": [
                (n.id, n.title(str(user.language))) for n in await notices.list_notices(db, user)
            ],
            "images": await media.list_media(db, user),
        },
        block="items",
        status_code=status_code,
    )


@staff_view(Permission.SEE_PLAYLISTS)
async def playlist_detail(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    playlist = await playlists.get_playlist(db, user, request.path_params["playlist_id"])
    return await _detail(request, db, playlist, {})


@staff_view(Permission.SEE_PLAYLISTS)
@once
async def playlist_items(request: Request, db: AsyncSession) -> Response:
    """Add an item, or move/remove one (`move` = up, down or remove)."""
    user: User = request.state.user
    playlist_id: int = request.path_params["playlist_id"]
    require(user, Permission.EDIT_PLAYLISTS, N_("Only publishers can change playlists."))
    form = Form(await read_form(request))
    ip = client_ip(request)
    try:
        if form.data.get("item_id"):
            item_id = form.optional_id("item_id")
            move = form.choice("move", {"up", "down", "remove"})
            form.check()
            assert item_id is not None
            playlist = await playlists.change_item(db, user, ip, playlist_id, item_id, move)
        else:
            item = playlists.ItemInput(
                kind=form.choice("kind", set(playlists.ITEM_KINDS)),
                notice_id=form.optional_id("notice_id"),
                media_id=form.optional_id("media_id"),
                text=form.text("text", required=False, max_length=500),
                duration_seconds=form.integer(
                    "duration_seconds",
                    minimum=playlists.MIN_SECONDS,
                    maximum=playlists.MAX_SECONDS,
                    default=10,
                ),
            )
            form.check()
            playlist = await playlists.add_item(db, user, ip, playlist_id, item)
    except ValidationFailed as exc:
        playlist = await playlists.get_playlist(db, user, playlist_id)
        return await _detail(request, db, playlist, exc.errors, 422)
    if request.headers.get("hx-request"):
        return await _detail(request, db, playlist, {})
    return redirect(request, f"/playlists/{playlist_id}")
