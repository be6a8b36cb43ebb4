"""The integration API under /api/v1/ (docs/api.md): notices, queue state and statistics,
tickets, screens and alerts, for systems around a counter, each request with an API token
(`Authorization: Bearer ...`) that carries scopes and a site (signage/api_tokens.py).

Each view declares what it takes and answers (`@operation`, with the TypedDicts below),
which both checks the request (an unknown field is a 422 naming it) and makes the OpenAPI
document (`/api/v1/openapi.json`, signage/openapi.py). A view parses, calls the same
domain functions as the staff UI (as the token's never-stored user, so screens are
updated and the audit log names "api:NAME"), and renders; it runs in one transaction, so
an error changes nothing. Errors are RFC 9457 problem details (`web.problem`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Literal, NotRequired, TypedDict, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import signage
from content.languages import LANGUAGES as CONTENT_LANGUAGES
from content.notices import NoticeText
from signage import api_tokens, notices, playlists, scope, screens
from signage.alerts import phrases, service
from signage.db import transaction, utcnow
from signage.errors import BadRequest, Conflict, Forbidden, Unauthorized, ValidationFailed
from signage.i18n import N_
from signage.models import Alert, ApiToken, Notice, QueueService, Screen, Site, User
from signage.openapi import Field, checked, document, operation, operation_of
from signage.queue import boards, stats, tickets
from signage.views import alerts as alert_views
from signage.views.boards import phone_url
from signage.views.fleet import _fleet_rows
from signage.views.kiosks import REQUEST_ID
from signage.web import Form, client_ip, parse_datetime, settings_of

ApiView = Callable[[Request], Awaitable[Response]]
TypedDictT = TypeVar("TypedDictT")


class Caller:
    """Who calls: the token and the user it acts as."""

    def __init__(self, token: ApiToken, user: User) -> None:
        self.token = token
        self.user = user

    def has(self, needed: str) -> bool:
        return needed in self.token.scope_set


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def api_view(view: Callable[[Request, AsyncSession, Caller], Awaitable[Response]]) -> ApiView:
    """Run a view for a token with one of the scopes its `@operation` declares (the one
    place they are written: the document and the check agree), in one transaction (401
    without a valid token, 403 without the scope; an error rolls everything back)."""

    @functools.wraps(view)
    async def wrapper(request: Request) -> Response:
        op = operation_of(wrapper)
        if op is None or not op.scopes:
            raise RuntimeError(f"{view.__name__}: an API view needs @operation with scopes")
        scopes = op.scopes
        async with transaction(request.app.state.db) as db:
            token = await api_tokens.token_for(db, _bearer(request))
            if token is None:
                raise Unauthorized(N_("The API token is missing, not valid or revoked."))
            if not token.scope_set & set(scopes):
                raise Forbidden(
                    N_("This API token does not have the scope this needs: %(scope)s."),
                    scope=" or ".join(scopes),
                )
            return await view(request, db, Caller(token, api_tokens.acting_user(token)))

    return wrapper


async def _body(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise BadRequest(N_("The request body is not valid JSON.")) from None


def _query(request: Request, hint: type[TypedDictT]) -> TypedDictT:
    return checked(hint, dict(request.query_params.items()))


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- notices ----------------------------------------------------------------------------


class NoticeTextIn(TypedDict):
    """A notice's text in one residents' language (content/languages.py)."""

    language: Annotated[str, Field(max_length=8, description="e.g. ja, en, zh-Hans")]
    title: Annotated[str, Field(max_length=200)]
    body: NotRequired[Annotated[str, Field(max_length=4000)]]


class NoticeIn(TypedDict):
    """A new notice, as the staff form takes it."""

    texts: Annotated[list[NoticeTextIn], Field(max_items=20)]
    site_id: NotRequired[
        Annotated[int | None, Field(description="none: for every site (tokens of every site)")]
    ]
    style: NotRequired[Literal["normal", "important", "closure"]]
    valid_from: NotRequired[
        Annotated[str | None, Field(max_length=40, description="ISO 8601 date and time")]
    ]
    valid_until: NotRequired[Annotated[str | None, Field(max_length=40)]]
    image_id: NotRequired[int | None]
    submit: NotRequired[
        Annotated[bool, Field(description="send it for approval at once (default false)")]
    ]
    playlist_id: NotRequired[
        Annotated[int, Field(description="also add it to this playlist (scope playlists:write)")]
    ]
    seconds: NotRequired[
        Annotated[
            int,
            Field(
                minimum=playlists.MIN_SECONDS,
                maximum=playlists.MAX_SECONDS,
                description="its seconds in the playlist (10)",
            ),
        ]
    ]


class NoticeTextOut(TypedDict):
    language: str
    title: str
    body: str


class NoticeOut(TypedDict):
    id: int
    site_id: int | None
    status: Literal["draft", "pending", "approved", "rejected"]
    style: str
    valid_from: str | None
    valid_until: str | None
    image_id: int | None
    rejection_reason: str
    updated_at: str
    texts: list[NoticeTextOut]


class NoticeListQuery(TypedDict):
    status: NotRequired[Literal["draft", "pending", "approved", "rejected"]]


def _notice(notice: Notice) -> NoticeOut:
    return {
        "id": notice.id,
        "site_id": notice.site_id,
        "status": notice.status,  # type: ignore[typeddict-item]
        "style": notice.style,
        "valid_from": _iso(notice.valid_from),
        "valid_until": _iso(notice.valid_until),
        "image_id": notice.image_id,
        "rejection_reason": notice.rejection_reason,
        "updated_at": notice.updated_at.isoformat(),
        "texts": [{"language": t.language, "title": t.title, "body": t.body} for t in notice.texts],
    }


def _when(request: Request, raw: str | None, name: str, errors: dict[str, str]) -> datetime | None:
    if not raw:
        return None
    try:
        return parse_datetime(raw, settings_of(request).timezone)
    except ValueError:
        errors[name] = N_("Enter a date and time, e.g. 2026-12-01 08:30.")
        return None


@operation(
    summary="Write a notice",
    scopes=("notices:write",),
    body=NoticeIn,
    response=NoticeOut,
    status=201,
    description="A draft, or (`submit`) waiting for approval. Times without an offset are "
    "read in the CMS's time zone (SIGNAGE_TIMEZONE).",
)
@api_view
async def api_notice_create(request: Request, db: AsyncSession, caller: Caller) -> Response:
    data = checked(NoticeIn, await _body(request))
    errors: dict[str, str] = {}
    valid_from = _when(request, data.get("valid_from"), "valid_from", errors)
    valid_until = _when(request, data.get("valid_until"), "valid_until", errors)
    if "playlist_id" in data and not caller.has("playlists:write"):
        raise Forbidden(
            N_("This API token does not have the scope this needs: %(scope)s."),
            scope="playlists:write",
        )
    if errors:
        raise ValidationFailed(errors)
    texts = [NoticeText(t["language"], t["title"], t.get("body", "")) for t in data["texts"]]
    if any(t.language not in CONTENT_LANGUAGES for t in texts):
        raise ValidationFailed({"texts": N_("Choose at least one of the listed languages.")})
    ip = client_ip(request)
    notice = await notices.create_notice(
        db,
        caller.user,
        ip,
        notices.NoticeInput(
            site_id=data.get("site_id", caller.token.site_id),
            style=data.get("style", "normal"),
            valid_from=valid_from,
            valid_until=valid_until,
            image_id=data.get("image_id"),
            texts=texts,
        ),
        submit=data.get("submit", False),
    )
    if "playlist_id" in data:
        await playlists.add_item(
            db,
            caller.user,
            ip,
            data["playlist_id"],
            playlists.ItemInput(
                "notice", notice_id=notice.id, duration_seconds=data.get("seconds", 10)
            ),
        )
    return JSONResponse(_notice(notice), status_code=201)


@operation(
    summary="List notices",
    scopes=("notices:read", "notices:write", "notices:approve"),
    query=NoticeListQuery,
    response=list[NoticeOut],
)
@api_view
async def api_notice_list(request: Request, db: AsyncSession, caller: Caller) -> Response:
    query = _query(request, NoticeListQuery)
    rows = await notices.list_notices(db, caller.user, query.get("status", ""))
    return JSONResponse([_notice(n) for n in rows])


@operation(
    summary="One notice",
    scopes=("notices:read", "notices:write", "notices:approve"),
    response=NoticeOut,
)
@api_view
async def api_notice(request: Request, db: AsyncSession, caller: Caller) -> Response:
    notice = await notices.get_notice(db, caller.user, request.path_params["notice_id"])
    return JSONResponse(_notice(notice))


@operation(summary="Send a notice for approval", scopes=("notices:write",), response=NoticeOut)
@api_view
async def api_notice_submit(request: Request, db: AsyncSession, caller: Caller) -> Response:
    notice = await notices.submit_notice(
        db, caller.user, client_ip(request), request.path_params["notice_id"]
    )
    return JSONResponse(_notice(notice))


@operation(
    summary="Approve a notice",
    scopes=("notices:approve",),
    response=NoticeOut,
    description="It goes on the screens whose playlists hold it at once.",
)
@api_view
async def api_notice_approve(request: Request, db: AsyncSession, caller: Caller) -> Response:
    notice = await notices.approve_notice(
        db, caller.user, client_ip(request), request.path_params["notice_id"]
    )
    return JSONResponse(_notice(notice))


# --- queue ------------------------------------------------------------------------------


class CounterState(TypedDict):
    id: int
    number: int
    name: str
    open: bool
    serving: Annotated[str | None, Field(description="the number it calls or serves now")]


class QueueState(TypedDict):
    site_id: int
    open: Annotated[bool, Field(description="within the hours numbers are issued")]
    services: list[boards.ServiceState]
    counters: list[CounterState]


async def _site(db: AsyncSession, caller: Caller, request: Request) -> Site:
    return await scope.get(db, caller.user, Site, request.path_params["site_id"])


@operation(
    summary="A site's queue now: services, waiting counts, who each counter serves",
    scopes=("queue:read",),
    response=QueueState,
)
@api_view
async def api_queue(request: Request, db: AsyncSession, caller: Caller) -> Response:
    site = await _site(db, caller, request)
    now = utcnow()
    rules = await tickets.queue_site(db, site.id, lock=False)
    board = await boards.board(db, site.id, now)
    lines = await boards.service_lines(db, site.id, tickets.local_today(site, now))
    body: QueueState = {
        "site_id": site.id,
        "open": tickets.is_open_hours(site, rules, now),
        "services": [line.state() for line in lines],
        "counters": [
            {
                "id": c["id"],
                "number": c["number"],
                "name": c["name"],
                "open": c["open"],
                "serving": c["current"],
            }
            for c in board["counters"]
        ],
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})


class StatsQuery(TypedDict):
    first: NotRequired[Annotated[str, Field(max_length=10, description="YYYY-MM-DD; today")]]
    last: NotRequired[Annotated[str, Field(max_length=10, description="YYYY-MM-DD; today")]]


class StatsGroup(TypedDict):
    """Counts, and times in minutes (none without tickets that have them)."""

    key: str
    issued: int
    served: int
    no_shows: int
    cancelled: int
    closed: int
    wait_avg: float | None
    wait_median: float | None
    walk_avg: float | None
    service_avg: float | None


class QueueStats(TypedDict):
    site_id: int
    first: str
    last: str
    total: StatsGroup
    by_service: list[StatsGroup]
    by_counter: list[StatsGroup]
    by_hour: list[StatsGroup]


def _group(group: stats.Group) -> StatsGroup:
    return {
        "key": group.key,
        "issued": group.issued,
        "served": group.served,
        "no_shows": group.no_shows,
        "cancelled": group.cancelled,
        "closed": group.closed,
        "wait_avg": group.wait_avg,
        "wait_median": group.wait_median,
        "walk_avg": group.walk_avg,
        "service_avg": group.service_avg,
    }


@operation(
    summary="A site's queue statistics over days (at most 93)",
    scopes=("queue:read",),
    query=StatsQuery,
    response=QueueStats,
)
@api_view
async def api_queue_stats(request: Request, db: AsyncSession, caller: Caller) -> Response:
    query = _query(request, StatsQuery)
    site = await _site(db, caller, request)
    today = tickets.local_today(site, utcnow())
    days: dict[str, date] = {}
    errors: dict[str, str] = {}
    for name in ("first", "last"):
        try:
            days[name] = date.fromisoformat(query[name]) if name in query else today
        except ValueError:
            errors[name] = N_("Enter a date, e.g. 2026-12-01.")
    if errors:
        raise ValidationFailed(errors)
    done = await stats.report(db, site, days["first"], days["last"])
    body: QueueStats = {
        "site_id": site.id,
        "first": done.first.isoformat(),
        "last": done.last.isoformat(),
        "total": _group(done.total),
        "by_service": [_group(g) for g in done.by_service],
        "by_counter": [_group(g) for g in done.by_counter],
        "by_hour": [_group(g) for g in done.by_hour],
    }
    return JSONResponse(body)


class TicketIn(TypedDict):
    """As the kiosk takes it: the same `request_id` twice returns the same ticket."""

    service: Annotated[int, Field(minimum=1)]
    priority: NotRequired[bool]
    language: NotRequired[Annotated[str, Field(max_length=8)]]
    request_id: NotRequired[Annotated[str, Field(max_length=64)]]


class TicketOut(TypedDict):
    id: int
    label: str
    service_id: int
    priority: bool
    language: str
    issued_at: str
    ahead: int
    wait_minutes: int
    url: Annotated[str, Field(description="the resident's phone view")]
    repeated: bool


@operation(
    summary="Issue a ticket (a queue number), with the kiosk's rules",
    scopes=("tickets:write",),
    body=TicketIn,
    response=TicketOut,
    status=201,
    description="201 for a new ticket; 200 with `repeated` for a `request_id` seen before. "
    "409 outside the hours numbers are issued or for a closed service.",
)
@api_view
async def api_ticket_issue(request: Request, db: AsyncSession, caller: Caller) -> Response:
    data = checked(TicketIn, await _body(request))
    errors: dict[str, str] = {}
    language = data.get("language", "ja")
    if language not in CONTENT_LANGUAGES:
        errors["language"] = N_("Choose one of the options.")
    request_id = data.get("request_id")
    if request_id is not None and not REQUEST_ID.match(request_id):
        errors["request_id"] = N_("This field contains characters that are not allowed.")
    if errors:
        raise ValidationFailed(errors)
    site = await _site(db, caller, request)
    await scope.get(db, caller.user, QueueService, data["service"], site=site.id)
    now = utcnow()
    rules = await tickets.queue_site(db, site.id, lock=False)
    if not tickets.is_open_hours(site, rules, now):
        raise Conflict(N_("Numbers are issued from %(opens)s to %(closes)s."),
                       opens=rules.opens_at, closes=rules.closes_at)  # fmt: skip
    issued = await tickets.issue(
        db,
        site_id=site.id,
        service_id=data["service"],
        priority=data.get("priority", False),
        language=language,
        source="api",
        request_key=f"api{caller.token.id}:{request_id}" if request_id else None,
        actor=caller.user,
        ip=client_ip(request),
        now=now,
    )
    wait = await boards.ticket_wait(db, issued.ticket, issued.waiting_before)
    ticket = issued.ticket
    body: TicketOut = {
        "id": ticket.id,
        "label": ticket.label,
        "service_id": ticket.service_id,
        "priority": ticket.priority,
        "language": ticket.language,
        "issued_at": ticket.issued_at.isoformat(),
        "ahead": issued.waiting_before,
        "wait_minutes": int(wait.total_seconds() // 60),
        "url": phone_url(request, ticket.public_id),
        "repeated": not issued.created,
    }
    return JSONResponse(body, status_code=201 if issued.created else 200)


# --- screens ----------------------------------------------------------------------------


class ScreenOut(TypedDict):
    id: int
    name: str
    site_id: int
    layout: str
    paired: bool
    online: bool
    last_seen: str | None
    playing: Annotated[dict[str, str], Field(description="what each zone shows, as it said")]
    manifest_version: int | None


async def _screens(request: Request, rows: list[Screen]) -> list[ScreenOut]:
    return [
        {
            "id": row["screen"].id,
            "name": row["screen"].name,
            "site_id": row["screen"].site_id,
            "layout": row["screen"].layout,
            "paired": row["paired"],
            "online": row["online"],
            "last_seen": _iso(row["last_seen"]),
            "playing": dict(row["playing"]),
            "manifest_version": row["version"],
        }
        for row in await _fleet_rows(request, rows)
    ]


@operation(summary="Screens and their status", scopes=("screens:read",), response=list[ScreenOut])
@api_view
async def api_screen_list(request: Request, db: AsyncSession, caller: Caller) -> Response:
    return JSONResponse(await _screens(request, await screens.list_screens(db, caller.user)))


@operation(summary="One screen and its status", scopes=("screens:read",), response=ScreenOut)
@api_view
async def api_screen(request: Request, db: AsyncSession, caller: Caller) -> Response:
    screen = await scope.get(db, caller.user, Screen, request.path_params["screen_id"])
    (body,) = await _screens(request, [screen])
    return JSONResponse(body)


# --- alerts -----------------------------------------------------------------------------


class AlertTextOut(TypedDict):
    language: str
    headline: str
    body: str


class AlertOut(TypedDict):
    id: int
    identifier: str
    source: str
    level: str
    mode: str
    drill: bool
    state: Literal["pending_confirmation", "active", "cleared", "expired", "cancelled"]
    site_id: int | None
    screens: list[int]
    effective_at: str
    expires_at: str
    texts: list[AlertTextOut]


class AlertTextIn(TypedDict):
    language: Literal["ja", "en"]
    headline: Annotated[str, Field(max_length=120)]
    body: NotRequired[Annotated[str, Field(max_length=600)]]


class AlertIn(TypedDict):
    """A manual alert from a ready template (docs/alerts.md), as the staff form takes it."""

    template: Annotated[str, Field(max_length=32, description="a template key, or free_text")]
    level: Literal["extreme", "severe", "moderate", "minor"]
    targets: Literal["all", "sites", "screens"]
    site_ids: NotRequired[Annotated[list[int], Field(max_items=100)]]
    screen_ids: NotRequired[Annotated[list[int], Field(max_items=1000)]]
    expires_minutes: Annotated[int, Field(minimum=1, maximum=1440)]
    drill: NotRequired[bool]
    place: NotRequired[Annotated[str, Field(max_length=60)]]
    time: NotRequired[Annotated[str, Field(max_length=60)]]
    floor: NotRequired[Annotated[str, Field(max_length=60)]]
    texts: NotRequired[
        Annotated[list[AlertTextIn], Field(max_items=2, description="for free_text")]
    ]


def _alert(alert: Alert) -> AlertOut:
    return {
        "id": alert.id,
        "identifier": alert.identifier,
        "source": alert.source,
        "level": alert.level,
        "mode": alert.mode,
        "drill": alert.drill,
        "state": alert.state,  # type: ignore[typeddict-item]
        "site_id": alert.site_id,
        "screens": list(alert.screens),
        "effective_at": alert.effective_at.isoformat(),
        "expires_at": alert.expires_at.isoformat(),
        "texts": [
            {"language": t["language"], "headline": t["headline"], "body": t["body"]}
            for t in alert.texts
        ],
    }


@operation(
    summary="Alerts shown or waiting for confirmation",
    scopes=("alerts:read", "alerts:write"),
    response=list[AlertOut],
)
@api_view
async def api_alert_list(request: Request, db: AsyncSession, caller: Caller) -> Response:
    rows = await service.list_alerts(db, caller.user)
    return JSONResponse([_alert(a) for a in rows if a.state in service.OPEN_STATES])


def _alert_form(data: AlertIn) -> FormData:
    """The request as the staff form's fields, so it is read by the same code."""
    fields: list[tuple[str, str | UploadFile]] = [
        ("template", data["template"]),
        ("level", data["level"]),
        ("targets", data["targets"]),
        ("expires_minutes", str(data["expires_minutes"])),
    ]
    fields += [("site_ids", str(i)) for i in data.get("site_ids", [])]
    fields += [("screen_ids", str(i)) for i in data.get("screen_ids", [])]
    fields += [
        ("place", data.get("place", "")),
        ("time", data.get("time", "")),
        ("floor", data.get("floor", "")),
    ]
    if data.get("drill"):
        fields.append(("drill", "1"))
    for text in data.get("texts", []):
        fields.append((f"headline_{text['language']}", text["headline"]))
        fields.append((f"body_{text['language']}", text.get("body", "")))
    return FormData(fields)


@operation(
    summary="Raise an alert from a template",
    scopes=("alerts:write",),
    body=AlertIn,
    response=AlertOut,
    status=201,
    description="Shown at once, unless it is real and SIGNAGE_ALERT_SECOND_PUBLISHER asks a "
    "publisher to confirm it in the staff UI (state pending_confirmation).",
)
@api_view
async def api_alert_raise(request: Request, db: AsyncSession, caller: Caller) -> Response:
    data = checked(AlertIn, await _body(request))
    policy = alert_views._policy(request)
    draft, targets, key = alert_views._read(
        Form(_alert_form(data)), policy, await phrases.edits(db)
    )
    alert = await service.raise_alert(
        db,
        draft,
        targets=targets,
        actor=caller.user,
        ip=client_ip(request),
        policy=policy,
        template=key,
    )
    return JSONResponse(_alert(alert), status_code=201)


@operation(summary="Clear an alert", scopes=("alerts:write",), response=AlertOut)
@api_view
async def api_alert_clear(request: Request, db: AsyncSession, caller: Caller) -> Response:
    alert = await service.clear(
        db, request.path_params["alert_id"], actor=caller.user, ip=client_ip(request)
    )
    return JSONResponse(_alert(alert))


# --- the document -----------------------------------------------------------------------


@operation(summary="This API's OpenAPI 3.1 document", response=dict[str, object])
async def api_openapi(request: Request) -> Response:
    from signage.routes import routes

    state = request.app.state
    if getattr(state, "openapi", None) is None:  # the routes do not change while it runs
        state.openapi = document(routes(settings_of(request)), signage.__version__)
    return JSONResponse(state.openapi)
