"""User management (administrators) and each user's own account page."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import auth, sites, totp, users
from signage.db import transaction, utcnow
from signage.errors import Unauthorized, ValidationFailed
from signage.i18n import LANGUAGES
from signage.models import Role, User
from signage.permissions import Permission
from signage.submissions import once
from signage.web import Form, client_ip, cookie_name, read_form, redirect, render, staff_view


def _user_input(form: Form) -> users.UserInput:
    site_id = form.optional_id("site_id")
    return users.UserInput(
        display_name=form.text("display_name", max_length=100),
        role=form.choice("role", {r.value for r in Role}),
        site_id=site_id,
        language=form.choice("language", LANGUAGES),
        active=form.flag("active"),
    )


async def _users_page(
    request: Request,
    db: AsyncSession,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "users.html",
        {
            "users": await users.list_users(db, request.state.user),
            "sites": await sites.list_sites(db, user=request.state.user),
            "errors": errors or {},
            "values": values or {"role": "editor", "language": "ja", "active": True},
            "done": request.query_params.get("done", ""),
        },
        status_code=status_code,
    )


@staff_view(Permission.MANAGE_USERS)
@once
async def user_list(request: Request, db: AsyncSession) -> Response:
    if request.method == "GET":
        return await _users_page(request, db)
    form = Form(await read_form(request))
    username = form.text("username", max_length=64)
    password = form.text("password", max_length=200, strip=False)
    data = _user_input(form)
    try:
        form.check()
        await users.create_user(
            db, request.state.user, client_ip(request), username, password, data
        )
    except ValidationFailed as exc:
        values: dict[str, object] = {
            k: v for k, v in form.data.items() if k not in {"password", "csrf_token"}
        }
        values["active"] = data.active
        return await _users_page(request, db, errors=exc.errors, values=values, status_code=422)
    return redirect(request, "/users?done=created")


@staff_view(Permission.MANAGE_USERS)
async def user_edit(request: Request, db: AsyncSession) -> Response:
    user_id: int = request.path_params["user_id"]
    target = await users.get_user(db, request.state.user, user_id)
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        form = Form(await read_form(request))
        data = _user_input(form)
        try:
            form.check()
            await users.update_user(db, request.state.user, client_ip(request), user_id, data)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
        else:
            return redirect(request, "/users?done=saved")
    return render(
        request,
        "user_edit.html",
        {
            "target": target,
            "sites": await sites.list_sites(db, user=request.state.user),
            "errors": errors,
            "two_step_on": totp.is_on(target),
        },
        status_code=status_code,
    )


@staff_view(Permission.MANAGE_USERS)
async def user_password(request: Request, db: AsyncSession) -> Response:
    user_id: int = request.path_params["user_id"]
    form = Form(await read_form(request))
    password = form.text("password", max_length=200, strip=False)
    try:
        form.check()
        await users.reset_password(db, request.state.user, client_ip(request), user_id, password)
    except ValidationFailed as exc:
        return render(
            request,
            "user_edit.html",
            {
                "target": (target := await users.get_user(db, request.state.user, user_id)),
                "sites": await sites.list_sites(db, user=request.state.user),
                "errors": exc.errors,
                "two_step_on": totp.is_on(target),
            },
            status_code=422,
        )
    return redirect(request, "/users?done=password")


@staff_view(Permission.MANAGE_USERS)
async def user_two_step_reset(request: Request, db: AsyncSession) -> Response:
    target = await users.get_user(db, request.state.user, request.path_params["user_id"])
    await totp.reset(db, request.state.user, client_ip(request), target)
    return redirect(request, "/users?done=two_step_reset")


async def account(request: Request) -> Response:
    """Each try at the current password counts as a login attempt, under the same limit."""
    attempt = await _count_password_attempt(request) if request.method == "POST" else None
    response = await _account(request)
    if attempt is not None and getattr(request.state, "password_right", False):
        async with transaction(request.app.state.db) as db:
            await auth.release_attempt(db, attempt)
    return response


async def _count_password_attempt(request: Request) -> int | None:
    token = request.cookies.get(cookie_name(request, "signage_session"))
    if not token:
        return None  # `_account` answers as to anyone not logged in
    async with transaction(request.app.state.db) as db:
        try:
            user = await auth.load_session(db, request.app.state.policy, token)
        except Unauthorized:
            return None
        return await auth.reserve_attempt(
            db, request.app.state.policy, user.username, client_ip(request), utcnow()
        )


@staff_view(Permission.USE_ACCOUNT)
async def _account(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    errors: dict[str, str] = {}
    status_code = 200
    done = request.query_params.get("done", "")
    if request.method == "POST":
        form = Form(await read_form(request))
        current = form.text("current_password", max_length=200, strip=False)
        new = form.text("new_password", max_length=200, strip=False)
        try:
            form.check()
            await users.change_own_password(
                db,
                user,
                client_ip(request),
                current,
                new,
                keep_token=request.cookies.get(cookie_name(request, "signage_session"), ""),
            )
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
            # Checked and right, though the new one is refused: the attempt does not count.
            request.state.password_right = not form.errors and "current_password" not in errors
        else:
            request.state.password_right = True
            return redirect(request, "/account?done=password")
    return render(
        request,
        "account.html",
        {
            "errors": errors,
            "done": done,
            "two_step_on": totp.is_on(user),
            "two_step_offered": totp.may_use(user),
        },
        status_code=status_code,
    )
