"""Screens: list, add, change; the 48-hour timeline and a rendered preview at any moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from content.layouts import LAYOUTS
from content.playback import shown_at, side_by_side
from signage import counters, manifests, pairing, playlists, screens, sites, words
from signage.db import utcnow
from signage.errors import Forbidden, NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import Manifest, Role, Screen, User
from signage.submissions import once
from signage.views.player import screenshot_path
from signage.web import (
    Form,
    client_ip,
    current_language,
    parse_datetime,
    read_form,
    redirect,
    render,
    settings_of,
    staff_view,
    translate,
)

VIEWERS = (Role.ADMIN, Role.PUBLISHER, Role.EDITOR)


def _screen_input(form: Form) -> screens.ScreenInput:
    return screens.ScreenInput(
        site_id=form.optional_id("site_id") or 0,
        name=form.text("name", max_length=100),
        layout=form.choice("layout", set(LAYOUTS)),
        default_playlist_id=form.optional_id("default_playlist_id"),
        groups=[g for g in form.text("groups", required=False, max_length=500).split(",") if g],
        silent=form.flag("silent"),
        counter_id=form.optional_id("counter_id"),
    )


async def _form_context(request: Request, db: AsyncSession) -> dict[str, object]:
    user: User = request.state.user
    return {
        "site_choices": await sites.sites_for(db, user),
        "playlists": await playlists.list_playlists(db, user),
        "layout_options": [(k, translate(request, v.title)) for k, v in LAYOUTS.items()],
        "counter_options": [
            (
                c.id,
                f"{c.site.name} " + translate(request, "Counter %(number)s", number=c.number),
            )
            for c in await counters.counters_for(db, user)
        ],
    }


@staff_view(*VIEWERS)
@once
async def screen_list(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    errors: dict[str, str] = {}
    values: dict[str, object] = {"layout": "hall", "site_id": user.site_id or ""}
    status_code = 200
    if request.method == "POST":
        if user.role not in screens.MANAGERS:
            raise Forbidden()
        form = Form(await read_form(request))
        data = _screen_input(form)
        try:
            form.check()
            screen = await screens.create_screen(db, user, client_ip(request), data)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
            values = {k: v for k, v in form.data.items() if k != "csrf_token"}
        else:
            return redirect(request, f"/screens/{screen.id}?done=created")
    context = await _form_context(request, db)
    context.update(
        {
            "screens": await screens.list_screens(db, user),
            "errors": errors,
            "values": values,
            "can_manage": user.role in screens.MANAGERS,
        }
    )
    return render(request, "screen_list.html", context, status_code=status_code)


def _timeline_rows(
    body: dict[str, object], zone_name: str, tz: ZoneInfo
) -> list[dict[str, object]]:
    timeline = body.get("timeline")
    assert isinstance(timeline, dict)
    rows = []
    for slot in timeline.get(zone_name, []):
        start = datetime.fromisoformat(slot["start"]).astimezone(tz)
        end = datetime.fromisoformat(slot["end"]).astimezone(tz)
        rows.append({**slot, "local_start": start, "local_end": end})
    return rows


@staff_view(*VIEWERS)
async def screen_detail(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    screen_id: int = request.path_params["screen_id"]
    screen = await screens.get_screen(db, user, screen_id)
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        if user.role not in screens.MANAGERS:
            raise Forbidden()
        form = Form(await read_form(request))
        data = _screen_input(form)
        try:
            form.check()
            await screens.update_screen(db, user, client_ip(request), screen_id, data)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
        else:
            return redirect(request, f"/screens/{screen_id}?done=saved")
    manifest = await screens.manifest_of(db, screen_id)
    tz = ZoneInfo(screen.site.timezone)
    layout = LAYOUTS[screen.layout]
    zones = [
        {"name": z, "rows": _timeline_rows(manifest.body, z, tz)} for z in layout.playable_zones()
    ]
    context = await _form_context(request, db)
    context.update(
        {
            "screen": screen,
            "manifest": manifest,
            "zones": zones,
            "errors": errors,
            "playlist_names": {p.id: p.name for p in context["playlists"]},  # type: ignore[attr-defined]
            "done": request.query_params.get("done", ""),
            "can_manage": user.role in screens.MANAGERS,
            "now_local": utcnow().astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
        }
    )
    return render(request, "screen_detail.html", context, status_code=status_code)


def preview_zones(body: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    """Each zone of the manifest's layout with what it shows at `at`, as players do."""
    layout = body["layout"]
    notices = body["notices"]
    shown = []
    for zone in layout["zones"]:
        wide = side_by_side(zone, layout["orientation"])
        showing = shown_at(
            body["timeline"].get(zone["name"], []),
            body.get("fallback", {}).get(zone["name"], []),
            at,
            notices,
            wide,
        )
        item = showing.item if showing else None
        notice = notices.get(str(item["notice"])) if item and item["type"] == "notice" else None
        texts = []
        if notice and showing:
            by_language = {t["language"]: t for t in notice["texts"]}
            texts = [by_language[code] for code in showing.languages if code in by_language]
        shown.append({"zone": zone, "item": item, "notice": notice, "texts": texts})
    return shown


@staff_view(*VIEWERS)
async def screen_preview(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    screen_id: int = request.path_params["screen_id"]
    screen = await screens.get_screen(db, user, screen_id)
    tz = ZoneInfo(screen.site.timezone)
    raw = request.query_params.get("at", "")
    now = utcnow()
    error = ""
    try:
        at = (parse_datetime(raw, screen.site.timezone) if raw else now).astimezone(tz)
    except ValueError:
        at, error = now.astimezone(tz), "Enter a date and time, e.g. 2026-12-01 08:30."
    # Resolved afresh from that moment, exactly as the manifest built then would be.
    body = await manifests.build(db, screen, at)
    return render(
        request,
        "screen_preview.html",
        {
            "screen": screen,
            "at": at,
            "at_value": at.strftime("%Y-%m-%dT%H:%M"),
            "shown": preview_zones(body, at),
            "error": error,
            "orientation": LAYOUTS[screen.layout].orientation,
        },
        block="preview",
    )


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def _layout_css() -> str:
    rules = []
    for layout in LAYOUTS.values():
        for z in layout.zones:
            rules.append(
                f".layout-{layout.key} .zone-{z.name} {{ left: {_percent(z.x)}; "
                f"top: {_percent(z.y)}; width: {_percent(z.width)}; "
                f"height: {_percent(z.height)}; }}"
            )
    return "\n".join(rules) + "\n"


LAYOUT_CSS = _layout_css()


async def layout_css(request: Request) -> Response:
    """Zone positions as CSS classes (inline styles are barred by the CSP)."""
    return Response(
        LAYOUT_CSS, media_type="text/css", headers={"cache-control": "public, max-age=3600"}
    )


OFFLINE_AFTER = timedelta(seconds=90)


def _fleet_rows(request: Request, rows: list[Screen]) -> list[dict[str, Any]]:
    hub = request.app.state.hub
    online = hub.online()
    now = utcnow()
    result = []
    for screen in rows:
        status = hub.status.get(screen.id, {})
        heard = status.get("at") or screen.last_seen_at
        connected = screen.id in online and heard is not None and now - heard < OFFLINE_AFTER
        result.append(
            {
                "screen": screen,
                "online": connected,
                "paired": screen.token_hash is not None,
                "last_seen": heard,
                "playing": status.get("playing", {}),
                "version": status.get("manifest_version") or screen.manifest_ack,
                # What the player said when it connected; the database catches up in batches.
                "kind": status.get("kind") or screen.player_kind,
                "player_version": status.get("version") or screen.player_version,
            }
        )
    return result


@staff_view(*VIEWERS)
async def fleet(request: Request, db: AsyncSession) -> Response:
    """Every screen, online or not, and what it plays; htmx refreshes the table."""
    user: User = request.state.user
    rows = _fleet_rows(request, await screens.list_screens(db, user))
    await _playing_in_words(request, db, rows)
    return render(
        request,
        "fleet.html",
        {"rows": rows, "can_manage": user.role in screens.MANAGERS},
        block="fleet_table",
    )


async def _playing_in_words(request: Request, db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Players report what each zone shows in a short form; staff read names and words."""
    parts = [words.playing_parts(str(w)) for row in rows for w in row["playing"].values()]
    names = await words.load_names(
        db,
        [],
        current_language(request),
        notices=[n for n, _ in parts if n is not None],
        files=[f for _, f in parts if f is not None],
    )

    def _(message: str, **params: object) -> str:
        return translate(request, message, **params)

    latest: dict[int, int] = {
        screen_id: version
        for screen_id, version in await db.execute(
            sa.select(Manifest.screen_id, Manifest.version).where(
                Manifest.screen_id.in_([row["screen"].id for row in rows])
            )
        )
    }
    for row in rows:
        row["playing"] = {
            zone: words.playing_text(str(what), names, _) for zone, what in row["playing"].items()
        }
        row["latest"] = latest.get(row["screen"].id)


@staff_view(*VIEWERS)
@once
async def screen_pair(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    if user.role not in screens.MANAGERS:
        raise Forbidden()
    errors: dict[str, str] = {}
    values: dict[str, object] = {"layout": "hall", "site_id": user.site_id or "", "screen_id": ""}
    status_code = 200
    if request.method == "POST":
        form = Form(await read_form(request))
        code = form.text("code", max_length=16)
        screen_id = form.optional_id("screen_id")
        values = {k: v for k, v in form.data.items() if k != "csrf_token"}
        try:
            form.check()
            ip = client_ip(request)
            if screen_id is not None:
                screen = await screens.get_screen(db, user, screen_id)
            else:
                data = _screen_input(form)
                form.check()
                screen = await screens.create_screen(db, user, ip, data)
            await pairing.claim(db, user, ip, code, screen)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
        else:
            return redirect(request, f"/screens/{screen.id}?done=paired")
    context = await _form_context(request, db)
    context.update(
        {
            "errors": errors,
            "values": values,
            "screens": await screens.list_screens(db, user),
        }
    )
    return render(request, "screen_pair.html", context, status_code=status_code)


@staff_view(*VIEWERS)
async def screen_revoke(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    if user.role not in screens.MANAGERS:
        raise Forbidden()
    screen = await screens.get_screen(db, user, request.path_params["screen_id"])
    await pairing.revoke(db, user, client_ip(request), screen)
    return redirect(request, f"/screens/{screen.id}?done=revoked")


@staff_view(*VIEWERS)
async def screen_screenshot(request: Request, db: AsyncSession) -> Response:
    """The last frame a headless player sent, for staff only."""
    screen = await screens.get_screen(db, request.state.user, request.path_params["screen_id"])
    path = screenshot_path(settings_of(request), screen.id)
    if not path.is_file():
        raise NotFound(N_("This screen has not sent a screenshot yet."))
    return FileResponse(path, media_type="image/png", headers={"cache-control": "no-store"})


@staff_view(*VIEWERS)
async def screen_command(request: Request, db: AsyncSession) -> Response:
    """Reload or identify a screen; the event reaches it at once if it is online."""
    user: User = request.state.user
    if user.role not in screens.MANAGERS:
        raise Forbidden()
    screen = await screens.get_screen(db, user, request.path_params["screen_id"])
    form = Form(await read_form(request))
    command = form.choice("command", set(screens.COMMANDS))
    form.check()
    screens.send_command(db, user, client_ip(request), screen, command)
    return redirect(request, "/fleet?done=sent")
