"""Schedules: put a playlist on screens at set times; office closure days of a site."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import playlists, schedules, screens, sites, words
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.models import ScheduleEntry, User
from signage.permissions import Permission, require
from signage.submissions import once
from signage.web import (
    ZONE_LABELS,
    Form,
    client_ip,
    read_form,
    redirect,
    render,
    staff_view,
    translate,
    user_timezone,
)

DAYPART_ROWS = 3
_WEEKDAY_NUMBERS = {str(d) for d in range(7)}
DAY_LABELS = words.DAYS
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


def _require_planner(user: User) -> None:
    """Refuse before reading the form, so the answer is 403 whatever was sent."""
    require(user, Permission.PLAN_SCHEDULES, N_("Only publishers can put content on screens."))


def _schedule_input(request: Request, form: Form, user: User) -> schedules.ScheduleInput:
    tz = user_timezone(request)
    parts = []
    for i in range(DAYPART_ROWS):
        start = form.text(f"d{i}_start", required=False, max_length=5)
        end = form.text(f"d{i}_end", required=False, max_length=5)
        days = form.data.getlist(f"d{i}_wd")
        weekdays = [int(str(v)) for v in days if str(v) in _WEEKDAY_NUMBERS]
        if start or end:
            parts.append(schedules.DaypartInput(weekdays, start, end))
    return schedules.ScheduleInput(
        name=form.text("name", required=False, max_length=100),
        playlist_id=form.optional_id("playlist_id"),
        target=form.text("target", max_length=32),
        zone=form.text("zone", max_length=32),
        priority=form.integer("priority", minimum=0, maximum=100, default=0),
        starts_at=form.local_datetime("starts_at", tz),
        ends_at=form.local_datetime("ends_at", tz),
        days=form.text("days", max_length=8),
        dayparts=parts,
        cron=form.text("cron", required=False, max_length=100),
        cron_minutes=form.integer("cron_minutes", minimum=0, maximum=24 * 60, default=0),
    )


def _values(entry: ScheduleEntry, tz: str) -> dict[str, object]:
    zone = ZoneInfo(tz)
    values: dict[str, object] = {
        "name": entry.name,
        "playlist_id": entry.playlist_id,
        "target": f"screen:{entry.screen_id}" if entry.screen_id else f"group:{entry.group_id}",
        "zone": entry.zone,
        "priority": entry.priority,
        "starts_at": entry.starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        if entry.starts_at
        else "",
        "ends_at": entry.ends_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        if entry.ends_at
        else "",
        "days": entry.days,
        "cron": entry.cron,
        "cron_minutes": entry.cron_minutes or "",
    }
    for i, part in enumerate(entry.dayparts[:DAYPART_ROWS]):
        values[f"d{i}_start"], values[f"d{i}_end"] = part["start"], part["end"]
        values[f"d{i}_wd"] = [str(d) for d in part["weekdays"]]
    return values


def _form_values(form: Form) -> dict[str, object]:
    values: dict[str, object] = {k: v for k, v in form.data.items() if k != "csrf_token"}
    for i in range(DAYPART_ROWS):
        values[f"d{i}_wd"] = [str(v) for v in form.data.getlist(f"d{i}_wd")]
    return values


async def _form_page(
    request: Request,
    db: AsyncSession,
    entry: ScheduleEntry | None,
    values: dict[str, object],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    user: User = request.state.user
    return render(
        request,
        "schedule_form.html",
        {
            "entry": entry,
            "values": values,
            "errors": errors,
            "playlists": await playlists.list_playlists(db, user),
            "screens": await screens.list_screens(db, user),
            "groups": await screens.list_groups(db, user),
            "day_options": [(k, translate(request, v)) for k, v in DAY_LABELS.items()],
            "zone_options": [
                (z, translate(request, ZONE_LABELS[z])) for z in ("main", "side", "ticker")
            ],
            "weekdays": [translate(request, d) for d in WEEKDAYS],
            "rows": range(DAYPART_ROWS),
            "timezone": user_timezone(request),
        },
        status_code=status_code,
    )


@staff_view(Permission.SEE_SCHEDULES)
async def schedule_list(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    return render(
        request,
        "schedule_list.html",
        {
            "entries": await schedules.list_schedules(db, user),
            "screens": {s.id: s.name for s in await screens.list_screens(db, user)},
            "groups": {g.id: g.name for g in await screens.list_groups(db, user)},
            "day_labels": DAY_LABELS,
            "done": request.query_params.get("done", ""),
        },
    )


@staff_view(Permission.SEE_SCHEDULES)
@once
async def schedule_new(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    if request.method == "GET":
        values: dict[str, object] = {"zone": "main", "priority": 0, "days": "all"}
        return await _form_page(request, db, None, values, {})
    _require_planner(user)
    form = Form(await read_form(request))
    data = _schedule_input(request, form, user)
    try:
        form.check()
        await schedules.create_schedule(db, user, client_ip(request), data)
    except ValidationFailed as exc:
        return await _form_page(request, db, None, _form_values(form), exc.errors, 422)
    return redirect(request, "/schedules?done=created")


@staff_view(Permission.SEE_SCHEDULES)
async def schedule_edit(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    schedule_id: int = request.path_params["schedule_id"]
    entry = await schedules.get_schedule(db, user, schedule_id)
    if request.method == "GET":
        return await _form_page(request, db, entry, _values(entry, user_timezone(request)), {})
    _require_planner(user)
    form = Form(await read_form(request))
    ip = client_ip(request)
    if form.data.get("action") == "delete":
        await schedules.delete_schedule(db, user, ip, schedule_id)
        return redirect(request, "/schedules?done=deleted")
    data = _schedule_input(request, form, user)
    try:
        form.check()
        entry, _ = await schedules.update_schedule(db, user, ip, schedule_id, data)
    except ValidationFailed as exc:
        return await _form_page(request, db, entry, _form_values(form), exc.errors, 422)
    return redirect(request, "/schedules?done=saved")


@staff_view(Permission.MANAGE_CLOSURES)
@once
async def closure_list(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        form = Form(await read_form(request))
        site_id = form.optional_id("site_id")
        ip = client_ip(request)
        try:
            if form.data.get("closure_id"):
                closure_id = form.optional_id("closure_id")
                form.check()
                assert closure_id is not None
                await sites.remove_closure(db, user, ip, closure_id)
            else:
                raw_day = form.text("day", max_length=10)
                reason = form.text("reason", required=False, max_length=200)
                if site_id is None and "site_id" not in form.errors:
                    form.errors["site_id"] = N_("This field is required.")
                form.check()
                try:
                    day = date.fromisoformat(raw_day)
                except ValueError:
                    raise ValidationFailed({"day": N_("Enter a date, e.g. 2026-12-29.")}) from None
                assert site_id is not None
                await sites.add_closure(db, user, ip, site_id, day, reason)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
        else:
            return redirect(request, "/closures?done=saved")
    return render(
        request,
        "closure_list.html",
        {
            "closures": await sites.list_closures(db, user),
            "site_choices": await sites.sites_for(db, user),
            "errors": errors,
            "done": request.query_params.get("done", ""),
        },
        status_code=status_code,
    )
