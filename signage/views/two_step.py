"""Two-step sign-in on one's own account: set it up, new recovery codes, turn it off."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from content.ticket_print import qr_svg
from signage import auth, totp
from signage.db import transaction, utcnow
from signage.errors import Forbidden, ValidationFailed
from signage.models import User
from signage.permissions import Permission
from signage.web import (
    Form,
    client_ip,
    cookie_name,
    current_user,
    read_form,
    redirect,
    render,
    settings_of,
    staff_view,
)


async def _page(
    request: Request,
    db: AsyncSession,
    user: User,
    *,
    codes: list[str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    on = totp.is_on(user)
    secret = "" if on else totp.setup_secret(user, settings_of(request).secret_key)
    return render(
        request,
        "two_step.html",
        {
            "on": on,
            "secret": totp.grouped(secret),
            "required": totp.must_set_up(user, settings_of(request).require_totp),
            "codes": codes or [],
            "codes_left": await totp.recovery_codes_left(db, user) if on else 0,
            "errors": errors or {},
        },
        status_code=status_code,
    )


def _offered(user: User) -> None:
    if not totp.may_use(user) and not totp.is_on(user):
        raise Forbidden()


@staff_view(Permission.USE_ACCOUNT, two_step_set_up=True)
async def two_step(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    _offered(user)
    if request.method == "GET" or totp.is_on(user):
        return await _page(request, db, user)
    form = Form(await read_form(request))
    code = form.text("code", max_length=20)
    try:
        form.check()
        codes = await totp.confirm_setup(
            db,
            user,
            settings_of(request).secret_key,
            code,
            request.app.state.clock(),
            client_ip(request),
        )
    except ValidationFailed as exc:
        return await _page(request, db, user, errors=exc.errors, status_code=422)
    # Whoever else is logged in as this user did not pass the new second step.
    token = request.cookies.get(cookie_name(request, "signage_session"), "")
    await auth.end_all_sessions(db, user.id, keep_token=token)
    return await _page(request, db, user, codes=codes)


@staff_view(Permission.USE_ACCOUNT, two_step_set_up=True)
async def two_step_qr(request: Request, db: AsyncSession) -> Response:
    """The QR code of the secret being set up (drawn here: nothing leaves the CMS)."""
    user: User = request.state.user
    _offered(user)
    secret = totp.setup_secret(user, settings_of(request).secret_key)
    svg = qr_svg(totp.provisioning_uri(secret, user.username), scale=6)
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "no-store"})


Action = Callable[[AsyncSession, User, Form], Awaitable[Response]]


async def _with_code(request: Request, action: Action) -> Response:
    """Run an action that asks for a second-step code. Each try counts against the login
    limit before the code is checked (in a transaction of its own); only a wrong code or
    password keeps counting."""
    me = await current_user(request, Permission.USE_ACCOUNT)
    form = Form(await read_form(request))
    sessions = request.app.state.db
    ip = client_ip(request)
    async with transaction(sessions) as db:
        attempt = await auth.reserve_attempt(
            db, request.app.state.policy, me.username, ip, utcnow()
        )
    try:
        async with transaction(sessions) as db:
            user = await db.get(User, me.id)
            assert user is not None  # current_user found it a moment ago
            await auth.release_attempt(db, attempt)  # kept only if the action fails
            return await action(db, user, form)
    except ValidationFailed as exc:
        errors = exc.errors
        wrong = isinstance(exc, totp.WrongCode)
    if not wrong:
        async with transaction(sessions) as db:
            await auth.release_attempt(db, attempt)
    async with transaction(sessions) as db:
        user = await db.get(User, me.id)
        assert user is not None
        return await _page(request, db, user, errors=errors, status_code=422)


async def two_step_recovery(request: Request) -> Response:
    async def action(db: AsyncSession, user: User, form: Form) -> Response:
        code = form.text("code", max_length=40)
        form.check()
        codes = await totp.new_recovery_codes(
            db,
            user,
            settings_of(request).secret_key,
            code,
            request.app.state.clock(),
            client_ip(request),
        )
        return await _page(request, db, user, codes=codes)

    return await _with_code(request, action)


async def two_step_off(request: Request) -> Response:
    async def action(db: AsyncSession, user: User, form: Form) -> Response:
        password = form.text("current_password", max_length=200, strip=False)
        code = form.text("code", max_length=40)
        form.check()
        await totp.turn_off(
            db,
            user,
            settings_of(request).secret_key,
            password,
            code,
            request.app.state.clock(),
            client_ip(request),
        )
        return redirect(request, "/account?done=two_step_off")

    return await _with_code(request, action)
