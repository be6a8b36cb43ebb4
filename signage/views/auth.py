"""Login, logout and choosing the staff UI language."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from signage import auth, users
from signage.db import transaction, utcnow
from signage.errors import TooManyRequests, Unauthorized, ValidationFailed
from signage.i18n import LANGUAGES, N_
from signage.web import (
    client_ip,
    cookie_name,
    delete_cookie,
    read_form,
    redirect,
    render,
    set_cookie,
    translate,
)


def _safe_next(value: object) -> str:
    """Only local paths: never an absolute or protocol-relative URL (open redirect)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


async def login(request: Request) -> Response:
    if request.method == "GET":
        next_path = _safe_next(request.query_params.get("next"))
        return render(request, "login.html", {"next": next_path, "username": "", "error": ""})
    form = await read_form(request)
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))[:1000]
    next_path = _safe_next(form.get("next"))
    ip = client_ip(request)
    sessions = request.app.state.db
    policy = request.app.state.policy
    old_token = request.cookies.get(cookie_name(request, "signage_session"))
    try:
        async with transaction(sessions) as db:
            await auth.reserve_attempt(db, policy, username, ip, utcnow())
    except TooManyRequests as exc:
        return _login_failed(request, username, next_path, exc.message, 429)
    try:
        async with transaction(sessions) as db:
            user = await auth.authenticate(db, username, password)
            token = await auth.start_session(
                db, user, ip, request.headers.get("user-agent", ""), old_token
            )
    except Unauthorized as exc:
        return _login_failed(request, username, next_path, exc.message, 401)
    response = redirect(request, next_path)
    set_cookie(request, response, "signage_session", token)
    return response


def _login_failed(
    request: Request, username: str, next_path: str, message: str, status: int
) -> Response:
    response = render(
        request,
        "login.html",
        {"next": next_path, "username": username, "error": translate(request, message)},
        status_code=status,
    )
    if status == 429:
        response.headers["retry-after"] = "60"
    return response


async def logout(request: Request) -> Response:
    token = request.cookies.get(cookie_name(request, "signage_session"))
    if token:
        async with transaction(request.app.state.db) as db:
            await auth.end_session(db, token)
    response = redirect(request, "/login")
    delete_cookie(request, response, "signage_session")
    return response


async def language(request: Request) -> Response:
    form = await read_form(request)
    chosen = str(form.get("language", ""))
    if chosen not in LANGUAGES:
        raise ValidationFailed({"language": N_("Choose one of the options.")})
    token = request.cookies.get(cookie_name(request, "signage_session"))
    if token:
        async with transaction(request.app.state.db) as db:
            try:
                user = await auth.load_session(db, request.app.state.policy, token)
            except Unauthorized:
                pass
            else:
                await users.set_language(db, user, client_ip(request), chosen)
    response = redirect(request, _safe_next(form.get("next")))
    set_cookie(request, response, "signage_lang", chosen, max_age=400 * 24 * 3600)
    return response
