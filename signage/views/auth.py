"""Login, logout and choosing the staff UI language."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from signage import auth, totp, users
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
    settings_of,
    translate,
)

# The half-done login (password right, code still to come) is kept on the server; the
# browser holds only its token, for as long as it stays good.
PENDING_COOKIE = "signage_pending"
PENDING_MAX_AGE = int(totp.PENDING_FOR.total_seconds())


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
    pending = ""
    try:
        async with transaction(sessions) as db:
            attempt = await auth.reserve_attempt(db, policy, username, ip, utcnow())
    except TooManyRequests as exc:
        return _login_failed(request, username, next_path, exc.message, 429)
    try:
        async with transaction(sessions) as db:
            user = await auth.authenticate(db, username, password)
            await auth.release_attempt(db, attempt)
            if totp.is_on(user):
                # No session yet: first the code from the app (or a recovery code).
                pending = await totp.start_pending(db, user, next_path, ip)
            else:
                token = await auth.start_session(
                    db, user, ip, request.headers.get("user-agent", ""), old_token
                )
                if totp.must_set_up(user, settings_of(request).require_totp):
                    next_path = request.app.url_path_for("two_step")
    except Unauthorized as exc:
        return _login_failed(request, username, next_path, exc.message, 401)
    if pending:
        response = redirect(request, request.app.url_path_for("login_two_step"))
        set_cookie(request, response, PENDING_COOKIE, pending, max_age=PENDING_MAX_AGE)
        return response
    response = redirect(request, next_path)
    set_cookie(request, response, "signage_session", token)
    return response


async def login_two_step(request: Request) -> Response:
    """The second step of logging in: a code from the authenticator app or a recovery code."""
    sessions = request.app.state.db
    pending_token = request.cookies.get(cookie_name(request, PENDING_COOKIE), "")
    if request.method == "GET":
        try:
            async with transaction(sessions) as db:
                await totp.load_pending(db, pending_token)
        except Unauthorized as exc:
            return _login_failed(request, "", "/", exc.message, 401)
        return render(request, "login_two_step.html", {"error": ""})
    form = await read_form(request)
    code = str(form.get("code", ""))[:40]
    ip = client_ip(request)
    old_token = request.cookies.get(cookie_name(request, "signage_session"))
    try:
        async with transaction(sessions) as db:
            pending, user = await totp.load_pending(db, pending_token)
            # Counted before the code is checked, so parallel guesses cannot pass the limit.
            await auth.reserve_attempt(db, request.app.state.policy, user.username, ip, utcnow())
        async with transaction(sessions) as db:
            pending, user = await totp.load_pending(db, pending_token)
            next_path = pending.next_path
            secret_key = settings_of(request).secret_key
            if not await totp.check_code(db, user, secret_key, code, request.app.state.clock(), ip):
                raise totp.WrongCode({"code": totp.SIGN_IN_CODE_FAILED})
            await totp.end_pending(db, user)
            token = await auth.start_session(
                db, user, ip, request.headers.get("user-agent", ""), old_token
            )
    except Unauthorized as exc:
        return _login_failed(request, "", "/", exc.message, 401)
    except TooManyRequests as exc:
        return _second_step_failed(request, exc.message, 429)
    except totp.WrongCode:
        return _second_step_failed(request, totp.SIGN_IN_CODE_FAILED, 401)
    response = redirect(request, next_path)
    set_cookie(request, response, "signage_session", token)
    delete_cookie(request, response, PENDING_COOKIE)
    return response


def _second_step_failed(request: Request, message: str, status: int) -> Response:
    response = render(
        request,
        "login_two_step.html",
        {"error": translate(request, message)},
        status_code=status,
    )
    if status == 429:
        response.headers["retry-after"] = "60"
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
