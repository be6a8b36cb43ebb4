"""The ticket kiosk: a touch screen page (plain JavaScript) and the two JSON endpoints it
uses, authenticated by the kiosk's device token (`Authorization: Bearer ...`); and adding
or revoking a kiosk (publishers). Drives signage/queue/kiosks.py and tickets.issue."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from content import residents
from content.languages import LANGUAGES as CONTENT_LANGUAGES
from signage import scope
from signage.db import transaction, utcnow
from signage.errors import Conflict, Unauthorized, ValidationFailed
from signage.i18n import N_
from signage.models import Kiosk, QueueService, Site, Ticket
from signage.permissions import Permission
from signage.queue import boards, kiosks, tickets
from signage.submissions import once
from signage.views.boards import phone_url
from signage.views.counters import _page
from signage.web import (
    Form,
    client_ip,
    read_form,
    read_json,
    redirect,
    render,
    staff_view,
)

REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
KIOSK_TEXTS = (
    "take_number", "choose_service", "priority", "your_number", "waiting", "ahead",
    "about_minutes", "estimate_note", "service_closed", "closed", "scan", "print", "back",
)  # fmt: skip


async def kiosk_page(request: Request) -> Response:
    return render(request, "kiosk.html")


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def _kiosk(db: AsyncSession, request: Request) -> Kiosk:
    kiosk = await kiosks.kiosk_for(db, _token(request))
    if kiosk is None:
        raise Unauthorized(N_("The device token is missing or not valid."))
    return kiosk


def _texts(languages: list[str]) -> dict[str, dict[str, str]]:
    return {code: {key: residents.text(key, code) for key in KIOSK_TEXTS} for code in languages}


async def _setup(db: AsyncSession, site: Site, now: datetime) -> dict[str, Any]:
    rules = await tickets.queue_site(db, site.id, lock=False)
    lines = await boards.service_lines(db, site.id, tickets.local_today(site, now))
    languages = site.languages.split(",")
    return {
        "site": {"id": site.id, "name": site.name, "name_en": site.name_en},
        "open": tickets.is_open_hours(site, rules, now),
        "hours": {"opens": rules.opens_at, "closes": rules.closes_at},
        "languages": [{"code": c, "name": CONTENT_LANGUAGES.get(c, c)} for c in languages],
        "texts": _texts(languages),
        "services": [line.state() for line in lines],
    }


async def kiosk_setup(request: Request) -> Response:
    """What the kiosk shows: the site, its languages and its services with waiting counts."""
    async with transaction(request.app.state.db) as db:
        kiosk = await _kiosk(db, request)
        site = await db.get(Site, kiosk.site_id)
        assert site is not None
        body = await _setup(db, site, utcnow())
    return JSONResponse(body, headers={"cache-control": "no-store"})


def _ticket_json(request: Request, ticket: Ticket, ahead: int, wait_minutes: int) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "label": ticket.label,
        "service": ticket.service.names_by_language(),
        "priority": ticket.priority,
        "language": ticket.language,
        "issued_at": ticket.issued_at.isoformat(),
        "ahead": ahead,
        "wait_minutes": wait_minutes,
        "url": phone_url(request, ticket.public_id),
        "qr": f"/q/{ticket.public_id}/qr.svg",
        "image": f"/q/{ticket.public_id}/ticket.png",
    }


async def kiosk_ticket(request: Request) -> Response:
    """Issue a ticket: {"service": id, "priority": bool, "language": code, "request_id": ...}.
    The same request id twice (a double tap, a retry) returns the same ticket."""
    body = await read_json(request)
    errors: dict[str, str] = {}
    service_id = body.get("service")
    if (
        not isinstance(service_id, int)
        or isinstance(service_id, bool)
        or not 0 < service_id < 2**31
    ):
        errors["service"] = N_("Choose a service.")
    request_id = body.get("request_id")
    if request_id is not None and not (
        isinstance(request_id, str) and REQUEST_ID.match(request_id)
    ):
        errors["request_id"] = N_("This field contains characters that are not allowed.")
    language = body.get("language", "ja")
    if not isinstance(language, str) or language not in CONTENT_LANGUAGES:
        errors["language"] = N_("Choose one of the options.")
    if errors:
        raise ValidationFailed(errors)
    now = utcnow()
    async with transaction(request.app.state.db) as db:
        kiosk = await _kiosk(db, request)
        site = await db.get(Site, kiosk.site_id)
        assert site is not None and isinstance(service_id, int)
        # A service of the kiosk's own site; issue() reads it again under the site's lock.
        await scope.get(db, kiosk, QueueService, service_id)
        rules = await tickets.queue_site(db, site.id, lock=False)
        if not tickets.is_open_hours(site, rules, now):
            raise Conflict(N_("Numbers are issued from %(opens)s to %(closes)s."),
                           opens=rules.opens_at, closes=rules.closes_at)  # fmt: skip
        issued = await tickets.issue(
            db,
            site_id=site.id,
            service_id=service_id,
            priority=body.get("priority") is True,
            language=str(language),
            source="kiosk",
            request_key=f"kiosk{kiosk.id}:{request_id}" if request_id else None,
            actor_name=f"kiosk:{kiosk.name}",
            ip=client_ip(request),
            now=now,
        )
        wait = await boards.ticket_wait(db, issued.ticket, issued.waiting_before)
        minutes = int(wait.total_seconds() // 60)
        payload = _ticket_json(request, issued.ticket, issued.waiting_before, minutes)
    return JSONResponse(
        {"ticket": payload, "repeated": not issued.created},
        status_code=201 if issued.created else 200,
    )


@staff_view(Permission.SET_UP_QUEUE)
@once
async def kiosk_add(request: Request, db: AsyncSession) -> Response:
    site_id: int = request.path_params["site_id"]
    form = Form(await read_form(request))
    name = form.text("name", max_length=100)
    try:
        form.check()
        made = await kiosks.create_kiosk(db, request.state.user, client_ip(request), site_id, name)
    except ValidationFailed as exc:
        return await _page(
            request, db, site_id, errors=exc.errors, section="kiosk", status_code=422
        )
    # The link (with its token) is shown this once; only the token's hash is kept.
    return await _page(request, db, site_id, new_kiosk=made)


@staff_view(Permission.SET_UP_QUEUE)
async def kiosk_revoke(request: Request, db: AsyncSession) -> Response:
    kiosk = await scope.get(db, request.state.user, Kiosk, request.path_params["kiosk_id"])
    site_id = kiosk.site_id
    await read_form(request)
    await kiosks.revoke_kiosk(db, request.state.user, client_ip(request), kiosk.id)
    return redirect(request, f"/queue/{site_id}?done=kiosk")
