"""What residents open themselves: their ticket on the phone (from the QR code), the
printable ticket and the QR code. No login; the ticket's unguessable id is the key, and
nothing here says who the resident is."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from content import residents
from content.languages import LANGUAGES as CONTENT_LANGUAGES
from content.ticket_print import TicketText, qr_svg, render_ticket
from signage.models import Site, TicketStatus
from signage.queue import boards
from signage.web import render, settings_of

PHONE_REFRESH_SECONDS = 5


def phone_url(request: Request, public_id: str) -> str:
    base = settings_of(request).public_url or str(request.base_url).rstrip("/")
    return f"{base}/q/{public_id}"


def _language(request: Request, fallback: str) -> str:
    chosen = request.query_params.get("lang", "")
    return chosen if chosen in CONTENT_LANGUAGES else fallback


def status_text(view: boards.PhoneView, language: str) -> tuple[str, str]:
    """(headline, detail) for a ticket in the resident's language."""
    ticket, t = view.ticket, residents.text
    status = ticket.status
    if status == TicketStatus.WAITING:
        minutes = int(view.wait.total_seconds() // 60)
        return (
            t("ahead", language, n=view.ahead),
            f"{t('about_minutes', language, n=minutes)} · {t('estimate_note', language)}",
        )
    if status == TicketStatus.CALLED:
        return t("now_calling", language), t("being_called", language, n=view.counter or "")
    if status == TicketStatus.SERVING:
        return t("serving", language, n=view.counter or ""), ""
    keys = {
        TicketStatus.HELD: "held",
        TicketStatus.DONE: "done",
        TicketStatus.NO_SHOW: "no_show",
        TicketStatus.CANCELLED: "cancelled",
        TicketStatus.CLOSED: "closed",
    }
    return t(keys[TicketStatus(status)], language), ""


async def ticket_status(request: Request) -> Response:
    public_id: str = request.path_params["public_id"]
    async with request.app.state.readonly_db() as db:
        view = await boards.phone_view(db, public_id)
        if view is None:
            language = _language(request, "ja")
            return render(
                request,
                "ticket_status.html",
                {
                    "view": None,
                    "language": language,
                    "message": residents.text("not_found", language),
                },
                status_code=404,
            )
        site = await db.get(Site, view.ticket.site_id)
        assert site is not None
        language = _language(request, view.ticket.language)
        headline, detail = status_text(view, language)
        context = {
            "view": view,
            "ticket": view.ticket,
            "site": site,
            "language": language,
            "languages": [(c, CONTENT_LANGUAGES[c]) for c in site.languages.split(",")],
            "service": view.ticket.service.names_by_language().get(
                language, view.ticket.service.name
            ),
            "headline": headline,
            "detail": detail,
            "called": view.ticket.status == TicketStatus.CALLED,
            "t": lambda key, **values: residents.text(key, language, **values),
            "refresh": PHONE_REFRESH_SECONDS,
        }
        response = render(request, "ticket_status.html", context, block="status")
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    return response


async def ticket_image(request: Request) -> Response:
    """The printable ticket (?paper=58 or 80)."""
    paper = 58 if request.query_params.get("paper") == "58" else 80
    async with request.app.state.readonly_db() as db:
        view = await boards.phone_view(db, request.path_params["public_id"])
        if view is None:
            return Response("not found", status_code=404, media_type="text/plain")
        site = await db.get(Site, view.ticket.site_id)
        assert site is not None
    ticket = view.ticket
    language = ticket.language
    names = ticket.service.names_by_language()
    service = names["ja"] if language == "ja" else f"{names['ja']} / {names.get(language, '')}"
    heading = residents.text("your_number", "ja")
    if language != "ja":
        heading += " / " + residents.text("your_number", language)
    minutes = int(view.wait.total_seconds() // 60)
    waiting = (
        f"{residents.text('ahead', language, n=view.ahead)} · "
        f"{residents.text('about_minutes', language, n=minutes)}"
    )
    issued = ticket.issued_at.astimezone(ZoneInfo(site.timezone)).strftime("%Y-%m-%d %H:%M")
    png = render_ticket(
        TicketText(
            site=site.name,
            heading=heading,
            label=ticket.label,
            service=service.strip(" /"),
            waiting=waiting,
            issued=issued,
            scan=residents.text("scan", language),
            url=phone_url(request, ticket.public_id),
        ),
        paper,
    )
    return Response(png, media_type="image/png", headers={"cache-control": "no-store"})


async def ticket_qr(request: Request) -> Response:
    async with request.app.state.readonly_db() as db:
        view = await boards.phone_view(db, request.path_params["public_id"])
    if view is None:
        return Response("not found", status_code=404, media_type="text/plain")
    svg = qr_svg(phone_url(request, view.ticket.public_id))
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "no-store"})
