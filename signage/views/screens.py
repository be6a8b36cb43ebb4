"""Screens: list, add, change; the 48-hour timeline and a rendered preview at any moment."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from content.layouts import LAYOUTS
from content.playback import shown_at, side_by_side
from content.protocol import Manifest as ManifestBody
from signage import manifests, playlists, screens, sites
from signage.db import utcnow
from signage.errors import NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import User
from signage.permissions import Permission, require
from signage.queue import counters
from signage.submissions import once
from signage.views.player import screenshot_path
from signage.web import (
    Form,
    client_ip,
    parse_datetime,
    read_form,
    redirect,
    render,
    settings_of,
    staff_view,
    translate,
)


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


@staff_view(Permission.SEE_SCREENS)
@once
async def screen_list(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    errors: dict[str, str] = {}
    values: dict[str, object] = {"layout": "hall", "site_id": user.site_id or ""}
    status_code = 200
    if request.method == "POST":
        require(user, Permission.MANAGE_SCREENS)
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
        }
    )
    return render(request, "screen_list.html", context, status_code=status_code)


def _timeline_rows(body: ManifestBody, zone_name: str, tz: ZoneInfo) -> list[dict[str, object]]:
    rows = []
    for slot in body["timeline"].get(zone_name, []):
        start = datetime.fromisoformat(slot["start"]).astimezone(tz)
        end = datetime.fromisoformat(slot["end"]).astimezone(tz)
        rows.append({**slot, "local_start": start, "local_end": end})
    return rows


@staff_view(Permission.SEE_SCREENS)
async def screen_detail(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    screen_id: int = request.path_params["screen_id"]
    screen = await screens.get_screen(db, user, screen_id)
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        require(user, Permission.MANAGE_SCREENS)
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
            "now_local": utcnow().astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
        }
    )
    return render(request, "screen_detail.html", context, status_code=status_code)


def preview_zones(body: ManifestBody, at: datetime) -> list[dict[str, object]]:
    """Each zone of the manifest's layout with what it shows at `at`, as players do."""
    layout = body["layout"]
    notices = body["notices"]
    shown: list[dict[str, object]] = []
    for zone in layout["zones"]:
        wide = side_by_side(zone, layout["orientation"])
        showing = shown_at(
            body["timeline"].get(zone["name"], []),
            body["fallback"].get(zone["name"], []),
            at,
            notices,
            wide,
        )
        item = showing.item if showing else None
        notice = notices.get(str(item.get("notice"))) if item and item["type"] == "notice" else None
        texts = []
        if notice and showing:
            by_language = {t["language"]: t for t in notice["texts"]}
            texts = [by_language[code] for code in showing.languages if code in by_language]
        shown.append({"zone": zone, "item": item, "notice": notice, "texts": texts})
    return shown


@staff_view(Permission.SEE_SCREENS)
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


@staff_view(Permission.SEE_SCREENS)
async def screen_screenshot(request: Request, db: AsyncSession) -> Response:
    """The last frame a headless player sent, for staff only."""
    screen = await screens.get_screen(db, request.state.user, request.path_params["screen_id"])
    path = screenshot_path(settings_of(request), screen.id)
    if not path.is_file():
        raise NotFound(N_("This screen has not sent a screenshot yet."))
    return FileResponse(path, media_type="image/png", headers={"cache-control": "no-store"})
