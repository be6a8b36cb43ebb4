"""Setting up a site's queue (publishers): rules, services and counters
(signage/queue/counters.py)."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from content.announcements import PHRASES
from content.languages import LANGUAGES as CONTENT_LANGUAGES
from signage import scope, sites
from signage.errors import ValidationFailed
from signage.models import Kiosk, QueueCounter, QueueService, User
from signage.permissions import Permission
from signage.queue import counters, kiosks, tickets
from signage.submissions import once
from signage.web import Form, client_ip, read_form, redirect, render, staff_view


@staff_view(Permission.SET_UP_QUEUE)
async def queue_home(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    choices = await sites.sites_for(db, user)
    if len(choices) == 1:
        return redirect(request, f"/queue/{choices[0].id}")
    return render(request, "queue_home.html", {"sites": choices})


async def _page(
    request: Request,
    db: AsyncSession,
    site_id: int,
    *,
    errors: dict[str, str] | None = None,
    section: str = "",
    values: dict[str, object] | None = None,
    new_kiosk: tuple[Kiosk, str] | None = None,
    status_code: int = 200,
) -> Response:
    user: User = request.state.user
    site = await counters.site_for(db, user, site_id)
    rules = await tickets.queue_site(db, site_id, lock=False)
    languages = [code for code in site.languages.split(",") if code not in ("ja", "en")]
    kiosk_link = None
    if new_kiosk is not None:
        kiosk_link = f"{request.base_url}kiosk/#token={new_kiosk[1]}"
    return render(
        request,
        "queue_setup.html",
        {
            "site": site,
            "rules": rules,
            "services": await counters.list_services(db, site_id),
            "counters": await counters.list_counters(db, site_id),
            "kiosks": await kiosks.list_kiosks(db, site_id),
            "other_languages": [(code, CONTENT_LANGUAGES[code]) for code in languages],
            "voice_choices": [(code, CONTENT_LANGUAGES[code]) for code in PHRASES],
            "errors": errors or {},
            "section": section,
            "values": values or {},
            "new_kiosk": new_kiosk[0] if new_kiosk else None,
            "kiosk_link": kiosk_link,
            "done": request.query_params.get("done", ""),
        },
        status_code=status_code,
    )


@staff_view(Permission.SET_UP_QUEUE)
async def queue_setup(request: Request, db: AsyncSession) -> Response:
    return await _page(request, db, request.path_params["site_id"])


def _service_input(form: Form, languages: list[str]) -> counters.ServiceInput:
    return counters.ServiceInput(
        prefix=form.text("prefix", max_length=3).upper(),
        name=form.text("name", max_length=100),
        name_en=form.text("name_en", required=False, max_length=100),
        names={
            code: form.text(f"name_{code}", required=False, max_length=100) for code in languages
        },
        open=form.flag("open"),
    )


def _counter_input(form: Form) -> counters.CounterInput:
    return counters.CounterInput(
        number=form.integer("number", minimum=1, maximum=999, default=0),
        name=form.text("name", required=False, max_length=100),
        service_ids=[
            int(v)
            for v in form.data.getlist("service_ids")
            if isinstance(v, str) and re.fullmatch(r"[0-9]{1,9}", v)
        ],
    )


async def _site_languages(db: AsyncSession, user: User, site_id: int) -> list[str]:
    site = await counters.site_for(db, user, site_id)
    return [code for code in site.languages.split(",") if code not in ("ja", "en")]


@staff_view(Permission.SET_UP_QUEUE)
async def queue_rules(request: Request, db: AsyncSession) -> Response:
    site_id: int = request.path_params["site_id"]
    form = Form(await read_form(request))
    data = counters.RulesInput(
        opens_at=form.text("opens_at", max_length=5),
        closes_at=form.text("closes_at", max_length=5),
        normal_per_priority=form.integer("normal_per_priority", minimum=1, maximum=20, default=3),
        noshow_after_recalls=form.integer("noshow_after_recalls", minimum=0, maximum=10, default=2),
        highlight_seconds=form.integer("highlight_seconds", minimum=3, maximum=60, default=10),
        voice_languages=[str(v) for v in form.data.getlist("voice_languages")],
    )
    try:
        form.check()
        await counters.update_rules(db, request.state.user, client_ip(request), site_id, data)
    except ValidationFailed as exc:
        return await _page(
            request, db, site_id, errors=exc.errors, section="rules", status_code=422
        )
    return redirect(request, f"/queue/{site_id}?done=rules")


@staff_view(Permission.SET_UP_QUEUE)
@once
async def service_add(request: Request, db: AsyncSession) -> Response:
    site_id: int = request.path_params["site_id"]
    form = Form(await read_form(request))
    data = _service_input(form, await _site_languages(db, request.state.user, site_id))
    try:
        form.check()
        await counters.create_service(db, request.state.user, client_ip(request), site_id, data)
    except ValidationFailed as exc:
        values: dict[str, object] = {k: v for k, v in form.data.items() if k != "csrf_token"}
        return await _page(
            request, db, site_id, errors=exc.errors, section="service", values=values,
            status_code=422,
        )  # fmt: skip
    return redirect(request, f"/queue/{site_id}?done=service")


@staff_view(Permission.SET_UP_QUEUE)
async def service_edit(request: Request, db: AsyncSession) -> Response:
    service = await scope.get(
        db, request.state.user, QueueService, request.path_params["service_id"]
    )
    form = Form(await read_form(request))
    data = _service_input(form, await _site_languages(db, request.state.user, service.site_id))
    try:
        form.check()
        await counters.update_service(db, request.state.user, client_ip(request), service.id, data)
    except ValidationFailed as exc:
        return await _page(
            request, db, service.site_id, errors=exc.errors, section=f"service-{service.id}",
            status_code=422,
        )  # fmt: skip
    return redirect(request, f"/queue/{service.site_id}?done=service")


@staff_view(Permission.SET_UP_QUEUE)
@once
async def counter_add(request: Request, db: AsyncSession) -> Response:
    site_id: int = request.path_params["site_id"]
    await counters.site_for(db, request.state.user, site_id)
    form = Form(await read_form(request))
    data = _counter_input(form)
    try:
        form.check()
        await counters.create_counter(db, request.state.user, client_ip(request), site_id, data)
    except ValidationFailed as exc:
        values: dict[str, object] = {
            "number": form.data.get("number", ""),
            "name": data.name,
            "service_ids": data.service_ids,
        }
        return await _page(
            request, db, site_id, errors=exc.errors, section="counter", values=values,
            status_code=422,
        )  # fmt: skip
    return redirect(request, f"/queue/{site_id}?done=counter")


@staff_view(Permission.SET_UP_QUEUE)
async def counter_edit(request: Request, db: AsyncSession) -> Response:
    counter = await scope.get(
        db, request.state.user, QueueCounter, request.path_params["counter_id"]
    )
    form = Form(await read_form(request))
    data = _counter_input(form)
    try:
        form.check()
        await counters.update_counter(db, request.state.user, client_ip(request), counter.id, data)
    except ValidationFailed as exc:
        return await _page(
            request, db, counter.site_id, errors=exc.errors, section=f"counter-{counter.id}",
            status_code=422,
        )  # fmt: skip
    return redirect(request, f"/queue/{counter.site_id}?done=counter")
