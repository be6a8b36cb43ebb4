"""Emergency alerts in the staff UI (signage/alerts/service.py): the list (open ones
first, with how many targeted screens show each), raising one from a template with a
preview of what each screen will show and a confirmation step, confirming one another
publisher raised (SIGNAGE_ALERT_SECOND_PUBLISHER), and clearing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from content.alerts import templates
from content.alerts.model import AlertDraft, AlertText, Level, mode_for
from content.languages import LANGUAGES as CONTENT_LANGUAGES
from signage import scope
from signage.alerts import delivery, phrases, service
from signage.db import utcnow
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.live.fleet import PlayerStatus, is_online
from signage.live.hub import Hub
from signage.models import Alert, Screen, Site, User
from signage.permissions import Permission
from signage.submissions import once
from signage.web import (
    Form,
    client_ip,
    read_form,
    redirect,
    render,
    settings_of,
    staff_view,
    wants_json,
)

TEMPLATE_LABELS = {
    "earthquake": N_("Earthquake"),
    "tsunami": N_("Tsunami"),
    "fire": N_("Fire"),
    "evacuation": N_("Evacuation"),
    "suspicious_person": N_("Suspicious person"),
    "system_outage": N_("System outage"),
    "free_text": N_("Free text"),
}
LEVEL_LABELS = {
    "extreme": N_("Extreme (whole screen)"),
    "severe": N_("Severe (whole screen)"),
    "moderate": N_("Moderate (banner)"),
    "minor": N_("Minor (banner)"),
}
TARGET_LABELS = {
    "all": N_("All my screens"),
    "sites": N_("Chosen sites"),
    "screens": N_("Chosen screens"),
}
STATE_LABELS = {
    "pending_confirmation": N_("Waiting for a second publisher"),
    "active": N_("Showing"),
    "cleared": N_("Cleared"),
    "expired": N_("Expired"),
    "cancelled": N_("Cancelled"),
}
FREE_LANGUAGES = ("ja", "en")
_BLANK: dict[str, Any] = {
    "template": "",
    "level": "severe",
    "place": "",
    "time": "",
    "floor": "",
    "targets": "all",
    "expires_minutes": "60",
    "headline_ja": "",
    "body_ja": "",
    "headline_en": "",
    "body_en": "",
    "drill": False,
    "site_ids": [],
    "screen_ids": [],
}
FIELDS = ("template", "level", "place", "time", "floor", "targets", "expires_minutes")


def _policy(request: Request) -> service.Policy:
    settings = settings_of(request)
    return service.Policy(settings.alert_second_publisher, settings.alert_max_hours)


async def _choices(db: AsyncSession, user: User) -> dict[str, Any]:
    sites = list(
        await db.scalars(sa.select(Site).where(scope.visible(user, Site)).order_by(Site.id))
    )
    screens = list(
        await db.scalars(
            sa.select(Screen).where(scope.visible(user, Screen)).order_by(Screen.site_id, Screen.id)
        )
    )
    return {"site_choices": sites, "screen_choices": screens}


def _values(data: FormData) -> dict[str, Any]:
    """What the form holds, to show it again (the preview carries it back)."""
    values: dict[str, Any] = {k: str(data.get(k, "")) for k in FIELDS}
    for language in FREE_LANGUAGES:
        for part in ("headline", "body"):
            values[f"{part}_{language}"] = str(data.get(f"{part}_{language}", ""))
    values["drill"] = data.get("drill") in {"1", "on", "true"}
    values["site_ids"] = [str(v) for v in data.getlist("site_ids")]
    values["screen_ids"] = [str(v) for v in data.getlist("screen_ids")]
    return values


def _read(
    form: Form, policy: service.Policy, edits: phrases.Edits
) -> tuple[AlertDraft, service.Targets, str]:
    """The draft and its targets, or ValidationFailed naming each wrong field."""
    data = form.data
    key = form.choice("template", templates.TEMPLATES)
    level = form.choice("level", {lv.value for lv in Level})
    kind = form.choice("targets", TARGET_LABELS)
    drill = form.flag("drill")
    raw_minutes = form.text("expires_minutes", max_length=6)
    minutes = 60
    if "expires_minutes" not in form.errors:
        if not (raw_minutes.isascii() and raw_minutes.isdigit()):
            form.errors["expires_minutes"] = N_("Enter a whole number.")
        elif not 1 <= int(raw_minutes) <= policy.max_hours * 60:
            form.errors["expires_minutes"] = N_("This number is out of range.")
        else:
            minutes = int(raw_minutes)
    ids: list[int] = []
    if kind in ("sites", "screens"):
        for raw in data.getlist(f"{kind[:-1]}_ids"):
            if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 10):
                form.errors["targets"] = N_("Choose one of the options.")
                break
            ids.append(int(raw))
        if not ids and "targets" not in form.errors:
            form.errors["targets"] = N_("Choose at least one.")
    texts: tuple[AlertText, ...] = ()
    template = templates.TEMPLATES.get(key)
    if template is not None and key == templates.FREE_TEXT:
        written = {
            language: (
                form.text(f"headline_{language}", required=False, max_length=120),
                form.text(f"body_{language}", required=False, max_length=600, strip=False),
            )
            for language in FREE_LANGUAGES
        }
        texts = templates.free_text(written)
        if not any(t.headline for t in texts):
            form.errors["headline_ja"] = N_("Write a headline in Japanese or English.")
    elif template is not None:
        values = {name: str(data.get(name, "")) for name in templates.PLACEHOLDERS}
        try:
            texts = templates.fill(template, values, list(template.phrases), edits.get(key))
        except templates.MissingValue as missing:
            form.errors[missing.field] = N_("This template needs it.")
        except ValueError:
            for name in template.needs:
                if len(values[name].strip()) > templates.MAX_VALUE:
                    form.errors[name] = N_("This is too long.")
    form.check()
    now = utcnow()
    draft = AlertDraft(
        source="manual",
        identifier=f"manual-{uuid.uuid4().hex}",
        level=Level(level),
        mode=mode_for(Level(level)),
        drill=drill,
        texts=texts,
        sent_at=now,
        effective_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    return draft, service.Targets(kind, tuple(ids)), key  # type: ignore[arg-type]


async def _form_page(
    request: Request,
    db: AsyncSession,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    user: User = request.state.user
    policy = _policy(request)
    return render(
        request,
        "alert_form.html",
        {
            "values": {**_BLANK, **(values or {})},
            "errors": errors or {},
            "template_labels": TEMPLATE_LABELS,
            "level_labels": LEVEL_LABELS,
            "target_labels": TARGET_LABELS,
            "templates": templates.TEMPLATES,
            "max_minutes": policy.max_hours * 60,
            "second_publisher": policy.second_publisher,
            **await _choices(db, user),
        },
        status_code=status_code,
    )


@staff_view(Permission.RAISE_ALERTS)
async def alert_list(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    rows = await service.list_alerts(db, user)
    hub: Hub = request.app.state.hub
    said = await hub.fleet(service.screens_of(a for a in rows if a.state in service.OPEN_STATES))
    screens = {
        screen_id: (name, last_seen)
        for screen_id, name, last_seen in await db.execute(
            sa.select(Screen.id, Screen.name, Screen.last_seen_at).where(
                scope.visible(user, Screen)
            )
        )
    }
    now = utcnow()
    items = []
    for alert in rows:
        shown = [s for s in alert.screens if service.acknowledged(said.get(s, {}), alert)]
        # Not showing it yet: a screen online that has not answered, or one that is off
        # (it shows the alert when it comes back, if the alert is still up).
        missing: list[str] = []
        offline: list[str] = []
        for s in alert.screens:
            if s in shown:
                continue
            name, last_seen = screens.get(s, (f"#{s}", None))
            online = is_online(said.get(s, {}), last_seen, now)
            (missing if online else offline).append(name)
        items.append(
            {
                "alert": alert,
                "open": alert.state in service.OPEN_STATES,
                "shown": len(shown),
                "missing": missing,
                "offline": offline,
            }
        )
    return render(
        request,
        "alert_list.html",
        {
            "items": items,
            "state_labels": STATE_LABELS,
            "level_labels": LEVEL_LABELS,
            "template_labels": TEMPLATE_LABELS,
            "done": request.query_params.get("done", ""),
        },
        block="alert_table",
    )


@staff_view(Permission.RAISE_ALERTS)
@once
async def alert_new(request: Request, db: AsyncSession) -> Response:
    """GET: the form. POST step=preview: what each screen will show and "send to N
    screens"; POST step=send: raise it. Errors come back as the form (422)."""
    if request.method != "POST":
        return await _form_page(request, db)
    user: User = request.state.user
    data = await read_form(request)
    form = Form(data)
    values = _values(data)
    policy = _policy(request)
    if data.get("step") == "edit":  # back from the preview
        return await _form_page(request, db, values)
    try:
        draft, targets, key = _read(form, policy, await phrases.edits(db))
        screens = await service.resolve(db, user, targets)
        if not screens:
            raise ValidationFailed({"targets": N_("No screen is among the chosen targets.")})
        if data.get("step") != "send":
            return await _preview(request, db, draft, screens, values)
        alert = await service.raise_alert(
            db,
            draft,
            targets=targets,
            actor=user,
            ip=client_ip(request),
            policy=policy,
            template=key,
        )
    except ValidationFailed as exc:
        if wants_json(request):
            raise
        return await _form_page(request, db, values, exc.errors, status_code=422)
    done = "waiting" if alert.state == "pending_confirmation" else "raised"
    return redirect(request, f"/alerts?done={done}")


async def _preview(
    request: Request,
    db: AsyncSession,
    draft: AlertDraft,
    screens: list[int],
    values: dict[str, Any],
) -> Response:
    """Each site's screens and the alert as they will show it (their languages)."""
    alert = service.draft_alert(draft, screens, service.EVERYWHERE, None, "active")
    alert.id = 0
    rows = await db.execute(
        sa.select(Screen.name, Site.name, Site.languages)
        .join(Site, Site.id == Screen.site_id)
        .where(Screen.id.in_(screens))
        .order_by(Site.id, Screen.id)
    )
    sites: dict[str, dict[str, Any]] = {}
    for screen_name, site_name, languages in rows:
        entry = sites.setdefault(
            site_name,
            {"screens": [], "item": delivery.item(alert, delivery.site_languages(languages), None)},
        )
        entry["screens"].append(screen_name)
    waits = _policy(request).second_publisher and not draft.drill
    return render(
        request,
        "alert_preview.html",
        {
            "values": values,
            "sites": sites,
            "count": len(screens),
            "draft": draft,
            "waits": waits,
            "level_labels": LEVEL_LABELS,
            "template_labels": TEMPLATE_LABELS,
        },
    )


@staff_view(Permission.RAISE_ALERTS)
async def alert_confirm(request: Request, db: AsyncSession) -> Response:
    await read_form(request)
    await service.confirm(
        db, request.path_params["alert_id"], actor=request.state.user, ip=client_ip(request)
    )
    return redirect(request, "/alerts?done=confirmed")


@staff_view(Permission.RAISE_ALERTS)
async def alert_clear(request: Request, db: AsyncSession) -> Response:
    await read_form(request)
    await service.clear(
        db, request.path_params["alert_id"], actor=request.state.user, ip=client_ip(request)
    )
    return redirect(request, "/alerts?done=cleared")


async def fleet_alerts(
    db: AsyncSession, screen_ids: list[int], said: dict[int, PlayerStatus]
) -> dict[int, list[dict[str, Any]]]:
    """For the fleet view: per screen, the alerts it should show and whether it does."""
    out: dict[int, list[dict[str, Any]]] = {}
    alerts: list[Alert] = await delivery.live_alerts(db, utcnow())
    wanted = set(screen_ids)
    for alert in alerts:
        for screen_id in set(alert.screens) & wanted:
            out.setdefault(screen_id, []).append(
                {
                    "alert": alert,
                    "shown": service.acknowledged(said.get(screen_id, {}), alert),
                }
            )
    return out


@staff_view(Permission.EDIT_ALERT_TEMPLATES)
async def alert_templates(request: Request, db: AsyncSession) -> Response:
    """Every ready text, per template and language, with a form to change it."""
    return await _templates_page(request, db)


async def _templates_page(
    request: Request,
    db: AsyncSession,
    errors: dict[str, str] | None = None,
    failed: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    edits = await phrases.edits(db)
    checked = await phrases.reviewed(db)
    rows = []
    for key, template in templates.TEMPLATES.items():
        for language, shipped in template.phrases.items():
            current = edits.get(key, {}).get(language, shipped)
            rows.append(
                {
                    "key": key,
                    "language": language,
                    "phrase": current,
                    "edited": language in edits.get(key, {}),
                    "reviewed": template.reviewed(language) or (key, language) in checked,
                    "needs": template.needs,
                }
            )
    return render(
        request,
        "alert_templates.html",
        {
            "rows": rows,
            "template_labels": TEMPLATE_LABELS,
            "language_names": {**CONTENT_LANGUAGES, templates.EASY_JAPANESE: "やさしい日本語"},
            "errors": errors or {},
            "failed": failed,
            "done": request.query_params.get("done", ""),
        },
        status_code=status_code,
    )


@staff_view(Permission.EDIT_ALERT_TEMPLATES)
async def alert_template_save(request: Request, db: AsyncSession) -> Response:
    key, language = request.path_params["key"], request.path_params["language"]
    form = Form(await read_form(request))
    headline = form.text("headline", max_length=200)
    body = form.text("body", required=False, max_length=1000)
    checked = form.flag("reviewed")
    try:
        form.check()
        await phrases.save(
            db, request.state.user, client_ip(request), key, language, headline, body,
            checked=checked,
        )  # fmt: skip
    except ValidationFailed as exc:
        if wants_json(request):
            raise
        return await _templates_page(request, db, exc.errors, (key, language), status_code=422)
    return redirect(request, f"/alerts/templates?done=saved#t-{key}-{language}")
