"""What every view shares: rendering pages and fragments, errors, cookies, forms, login."""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import nodes
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from signage import auth, csrf, totp, words
from signage.audit import ACTION_LABELS, FIELD_LABELS, TARGET_LABELS
from signage.db import transaction
from signage.errors import (
    BadRequest,
    Forbidden,
    HTTPError,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from signage.i18n import LANGUAGES, N_, gettext_for
from signage.models import Role, User
from signage.permissions import Permission, allowed, require
from signage.settings import Settings

log = logging.getLogger("signage")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
ROLE_LABELS = words.ROLES

ZONE_LABELS = words.ZONES
PLAYER_KINDS = {"browser": N_("Browser"), "headless": N_("Small display")}

View = Callable[[Request], Awaitable[Response]]
TWO_STEP_FIRST = N_("Turn on two-step sign-in first (My account).")


def create_templates(timezone: str) -> jinja2.Environment:
    zone = ZoneInfo(timezone)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_attr"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.filters["localtime"] = lambda value: value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    env.globals["action_labels"] = ACTION_LABELS
    env.globals["target_labels"] = TARGET_LABELS
    env.globals["field_labels"] = FIELD_LABELS
    env.globals["zone_labels"] = ZONE_LABELS
    env.globals["player_kinds"] = PLAYER_KINDS
    # A create form's one-time id (see signage/submissions.py).
    env.globals["new_request_id"] = lambda: secrets.token_urlsafe(16)
    env.globals["site_options"] = lambda sites: [(s.id, s.name) for s in sites]
    env.globals["image_options"] = lambda images: [(m.id, m.display_name) for m in images]
    return env


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def cookie_name(request: Request, base: str) -> str:
    return f"__Host-{base}" if settings_of(request).secure_cookies else base


def set_cookie(
    request: Request, response: Response, base: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        secure=settings_of(request).secure_cookies,
        httponly=True,
        samesite="lax",
    )


def delete_cookie(request: Request, response: Response, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        path="/",
        secure=settings_of(request).secure_cookies,
        httponly=True,
        samesite="lax",
    )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def current_language(request: Request) -> str:
    user: User | None = getattr(request.state, "user", None)
    if user is not None and user.language in LANGUAGES:
        return user.language
    chosen = request.cookies.get("signage_lang", "")
    return chosen if chosen in LANGUAGES else settings_of(request).default_language


def user_timezone(request: Request) -> str:
    """The time zone staff enter times in: their site's, or the default for all-site staff."""
    user = getattr(request.state, "user", None)
    site = getattr(user, "site", None)
    return str(site.timezone) if site is not None else settings_of(request).timezone


def translate(request: Request, message: str, **params: object) -> str:
    text = gettext_for(current_language(request)).gettext(message)
    return text % params if params else text


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or (path.startswith("/player/") and path != "/player/"):
        return True  # machines: the JSON API and the players
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


# What a template's top level defines (imports, macros, variables) without output.
_DEFINITIONS = (nodes.Import, nodes.FromImport, nodes.Macro, nodes.Assign, nodes.AssignBlock)
_PRELUDES: dict[tuple[int, str], list[jinja2.Template]] = {}


def _preludes(env: jinja2.Environment, name: str) -> list[jinja2.Template]:
    """The top-level definitions of a template and of the ones it extends, as small
    templates: a block rendered alone runs them first, so it sees every name the whole
    page would (an import at the top of a page is not run by the block on its own)."""
    key = (id(env), name)
    if key not in _PRELUDES:
        assert env.loader is not None
        source, filename, _ = env.loader.get_source(env, name)
        tree = env.parse(source, name, filename)
        body = [node for node in tree.body if isinstance(node, _DEFINITIONS)]
        chain = []
        if body:
            code = env.compile(nodes.Template(body, lineno=1), name, filename)
            chain.append(env.template_class.from_code(env, code, env.make_globals(None)))
        for extends in tree.find_all(nodes.Extends):
            if isinstance(extends.template, nodes.Const):
                chain.extend(_preludes(env, str(extends.template.value)))
        _PRELUDES[key] = chain
    return _PRELUDES[key]


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a page, or only its `block` when htmx asks for a fragment of it."""
    env: jinja2.Environment = request.app.state.templates
    template = env.get_template(name)
    language = current_language(request)
    translations = gettext_for(language)
    user: User | None = getattr(request.state, "user", None)

    def gettext(message: str, **params: object) -> str:
        text = translations.gettext(message)
        return text % params if params else text

    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "lang": language,
        "languages": LANGUAGES,
        "role_labels": ROLE_LABELS,
        # Templates show a link or a button only to whom the permission table allows it.
        "allowed": allowed,
        "Permission": Permission,
        "csrf_token": csrf.token_for(request),
        "_": gettext,
        "ngettext": translations.ngettext,
        "role_options": lambda: [(r.value, translations.gettext(ROLE_LABELS[r])) for r in Role],
        "url": request.app.url_path_for,
    }
    values.update(context or {})
    if block is not None and is_htmx(request) and not request.headers.get("hx-boosted"):
        ctx = template.new_context(values)
        for prelude in _preludes(env, name):
            for _ in prelude.root_render_func(ctx):
                pass
        html = "".join(template.blocks[block](ctx))
    else:
        html = template.render(values)
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    if user is not None:
        response.headers["cache-control"] = "no-store"
    return response


def redirect(request: Request, path: str) -> Response:
    """Redirect after a successful POST; htmx follows HX-Redirect with a full page load."""
    if is_htmx(request):
        return Response(status_code=204, headers={"hx-redirect": path})
    return RedirectResponse(path, status_code=303)


async def render_error(request: Request, exc: HTTPError) -> Response:
    """The one place that turns an HTTPError into a page, an htmx fragment or JSON."""
    message = translate(request, exc.message, **exc.params)
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests):
        headers["retry-after"] = "60"
    if request.url.path.startswith("/api/v1/"):
        return problem(request, exc, headers)
    if wants_json(request):
        body: dict[str, Any] = {"error": message, "status": exc.status_code}
        if isinstance(exc, ValidationFailed):
            body["fields"] = {name: translate(request, text) for name, text in exc.errors.items()}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)
    if isinstance(exc, Unauthorized) and request.url.path != "/login":
        target = "/login?next=" + quote(request.url.path, safe="/")
        if is_htmx(request):
            return Response(status_code=401, headers={"hx-redirect": target})
        if request.method in {"GET", "HEAD"}:
            return RedirectResponse(target, status_code=303)
    if is_htmx(request):
        headers.update({"hx-retarget": "#messages", "hx-reswap": "innerHTML"})
        return render(
            request,
            "_error.html",
            {"message": message, "status": exc.status_code},
            status_code=exc.status_code,
            headers=headers,
        )
    return render(
        request,
        "error.html",
        {"message": message, "status": exc.status_code},
        status_code=exc.status_code,
        headers=headers,
    )


def api_language(request: Request) -> str:
    """The language of the integration API's messages: the first of `Accept-Language`
    the staff UI has, else the default."""
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return settings_of(request).default_language


def problem(request: Request, exc: HTTPError, headers: dict[str, str]) -> JSONResponse:
    """An error of the integration API as RFC 9457 problem details (docs/api.md): the
    standard members, `fields` for a field-by-field refusal, and `error` as the other JSON
    endpoints send it."""
    translations = gettext_for(api_language(request))

    def text(message: str, **params: object) -> str:
        done = translations.gettext(message)
        return done % params if params else done

    detail = text(exc.message, **exc.params)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(exc.status_code).phrase,
        "status": exc.status_code,
        "detail": detail,
        "error": detail,
    }
    if isinstance(exc, ValidationFailed):
        body["fields"] = {name: text(message) for name, message in exc.errors.items()}
    if isinstance(exc, Unauthorized):
        headers = {**headers, "www-authenticate": "Bearer"}
    return JSONResponse(
        body,
        status_code=exc.status_code,
        headers=headers,
        media_type="application/problem+json",
    )


async def read_form(request: Request) -> FormData:
    """The request's form, bounded in fields and files, with a clear error if malformed."""
    try:
        return await request.form(max_fields=200, max_files=0)
    except PayloadTooLarge:
        raise
    except Exception as exc:  # multipart and urlencoded parsers raise several types
        raise BadRequest(N_("The form could not be read. Reload the page and try again.")) from exc


_ROW_ID = re.compile(r"[0-9]{1,9}")


def row_id(raw: str) -> int | None:
    """A row id sent as text: ASCII digits only ("²" passes `isdigit()` but not `int()`), and
    short enough for every database; None otherwise."""
    return int(raw) if _ROW_ID.fullmatch(raw) else None


def parse_datetime(raw: str, timezone: str) -> datetime:
    """An ISO date and time, read as wall time in `timezone` unless it names its offset.

    Raises ValueError outside the years 2000 to 2999 too: a moment at the ends of what
    `datetime` holds cannot move to another time zone or get 48 hours of timeline after it.
    """
    value = datetime.fromisoformat(raw)
    if not 2000 <= value.year <= 2999:
        raise ValueError(raw)
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(timezone))


async def read_json(request: Request) -> dict[str, object]:
    """The request's JSON object, with a clear error if it is not one."""
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise BadRequest(N_("The request could not be read.")) from None
    if not isinstance(body, dict):
        raise BadRequest(N_("The request could not be read."))
    return body


class Form:
    """Reads and checks fields one by one, collecting an error message per field."""

    def __init__(self, data: FormData) -> None:
        self.data = data
        self.errors: dict[str, str] = {}

    def text(
        self, name: str, *, required: bool = True, max_length: int = 200, strip: bool = True
    ) -> str:
        raw = self.data.get(name, "")
        value = raw if isinstance(raw, str) else ""
        if strip:
            value = value.strip()
        if "\x00" in value:
            self.errors[name] = N_("This field contains characters that are not allowed.")
        elif required and not value:
            self.errors[name] = N_("This field is required.")
        elif len(value) > max_length:
            self.errors[name] = N_("This is too long.")
        return value

    def choice(self, name: str, choices: Mapping[str, object] | set[str]) -> str:
        value = self.text(name)
        if name not in self.errors and value not in choices:
            self.errors[name] = N_("Choose one of the options.")
        return value

    def optional_id(self, name: str) -> int | None:
        """A foreign key picked from a list: empty means none."""
        raw = self.text(name, required=False, max_length=12)
        if not raw:
            return None
        value = row_id(raw)
        if value is None:
            self.errors[name] = N_("Choose one of the options.")
        return value

    def integer(self, name: str, *, minimum: int, maximum: int, default: int) -> int:
        raw = self.text(name, required=False, max_length=12)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors[name] = N_("Enter a whole number.")
            return default
        if not minimum <= value <= maximum:
            self.errors[name] = N_("This number is out of range.")
        return value

    def local_datetime(self, name: str, timezone: str) -> datetime | None:
        """A `datetime-local` field read as wall time in `timezone`; empty means none."""
        raw = self.text(name, required=False, max_length=32)
        if not raw:
            return None
        try:
            return parse_datetime(raw, timezone)
        except ValueError:
            self.errors[name] = N_("Enter a date and time, e.g. 2026-12-01 08:30.")
            return None

    def flag(self, name: str) -> bool:
        return self.data.get(name) in {"1", "on", "true"}

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(dict(self.errors))


async def current_user(request: Request, permission: Permission) -> User:
    """The logged-in user, checked (and that they have `permission`) in a short transaction
    of its own, for views that must not hold the database while they work (uploads)."""
    token = request.cookies.get(cookie_name(request, "signage_session"))
    if not token:
        raise Unauthorized()
    async with transaction(request.app.state.db) as db:
        user = await auth.load_session(db, request.app.state.policy, token)
        request.state.user = _snapshot(user)
        if totp.must_set_up(user, settings_of(request).require_totp):
            raise Forbidden(TWO_STEP_FIRST)
        require(user, permission)
        return user


def staff_view(
    permission: Permission, *, two_step_set_up: bool = False
) -> Callable[[Callable[[Request, AsyncSession], Awaitable[Response]]], View]:
    """Run a view for a logged-in user who has `permission` in one transaction.

    The user is in `request.state.user`; the view gets the open database session. While
    SIGNAGE_REQUIRE_TOTP holds a user back, only views marked `two_step_set_up` run; the
    others send them to set it up.
    """

    def decorate(view: Callable[[Request, AsyncSession], Awaitable[Response]]) -> View:
        @functools.wraps(view)
        async def wrapper(request: Request) -> Response:
            token = request.cookies.get(cookie_name(request, "signage_session"))
            if not token:
                raise Unauthorized()
            try:
                async with transaction(request.app.state.db) as db:
                    user = await auth.load_session(db, request.app.state.policy, token)
                    request.state.user = user
                    snapshot = _snapshot(user)
                    try:
                        if not two_step_set_up and totp.must_set_up(
                            user, settings_of(request).require_totp
                        ):
                            return redirect(request, request.app.url_path_for("two_step"))
                        require(user, permission)
                        response = await view(request, db)
                    except BaseException:
                        # The rollback expires ORM objects; the error page still shows who
                        # is logged in.
                        request.state.user = snapshot
                        raise
                    if response.status_code >= 400:
                        # A view that answers with an error (a form with mistakes) keeps
                        # nothing it may have written before it found them.
                        raise _RollBack(response)
                    return response
            except _RollBack as rolled_back:
                return rolled_back.response

        return wrapper

    return decorate


class _RollBack(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _snapshot(user: User) -> SimpleNamespace:
    site = SimpleNamespace(id=user.site.id, name=user.site.name) if user.site else None
    return SimpleNamespace(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        language=user.language,
        site=site,
    )
