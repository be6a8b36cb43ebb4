"""Pairing: a player asks for a code, staff enter it for a screen, or revoke a screen's
device (signage/live/pairing.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from content.protocol import PairAnswer
from signage import screens
from signage.db import transaction
from signage.errors import ValidationFailed
from signage.live import pairing
from signage.models import User
from signage.permissions import Permission, require
from signage.submissions import once
from signage.views.screens import _form_context, _screen_input
from signage.web import (
    Form,
    client_ip,
    read_form,
    read_json,
    redirect,
    render,
    staff_view,
)


@staff_view(Permission.SEE_SCREENS)
@once
async def screen_pair(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    require(user, Permission.PAIR_SCREENS)
    errors: dict[str, str] = {}
    values: dict[str, object] = {"layout": "hall", "site_id": user.site_id or "", "screen_id": ""}
    status_code = 200
    if request.method == "POST":
        form = Form(await read_form(request))
        code = form.text("code", max_length=16)
        screen_id = form.optional_id("screen_id")
        values = {k: v for k, v in form.data.items() if k != "csrf_token"}
        try:
            form.check()
            ip = client_ip(request)
            if screen_id is not None:
                screen = await screens.get_screen(db, user, screen_id)
            else:
                data = _screen_input(form)
                form.check()
                screen = await screens.create_screen(db, user, ip, data)
            await pairing.claim(db, user, ip, code, screen)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
        else:
            return redirect(request, f"/screens/{screen.id}?done=paired")
    context = await _form_context(request, db)
    context.update(
        {
            "errors": errors,
            "values": values,
            "screens": await screens.list_screens(db, user),
        }
    )
    return render(request, "screen_pair.html", context, status_code=status_code)


@staff_view(Permission.SEE_SCREENS)
async def screen_revoke(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    require(user, Permission.PAIR_SCREENS)
    screen = await screens.get_screen(db, user, request.path_params["screen_id"])
    await pairing.revoke(db, user, client_ip(request), screen)
    return redirect(request, f"/screens/{screen.id}?done=revoked")


async def player_pair(request: Request) -> Response:
    body = await read_json(request)
    token = body.get("token")
    async with transaction(request.app.state.db) as db:
        pending = await pairing.request_pairing(db, str(token or ""), client_ip(request))
        code, expires = pending.code, pending.expires_at
    answer: PairAnswer = {"code": code, "expires": expires.isoformat()}
    return JSONResponse(answer, status_code=201)
