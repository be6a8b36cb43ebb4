"""What players fetch over HTTP: the player page and the pairing request."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from signage import pairing
from signage.db import transaction
from signage.errors import BadRequest
from signage.i18n import N_
from signage.settings import PROJECT_ROOT
from signage.web import client_ip, render

PLAYER_DIR = PROJECT_ROOT / "players" / "browser"


async def player_redirect(request: Request) -> Response:
    return RedirectResponse("/player/", status_code=301)


async def service_worker(request: Request) -> Response:
    """Served from /player/ so that it controls the player page."""
    return FileResponse(
        PLAYER_DIR / "sw.js",
        media_type="text/javascript",
        headers={"cache-control": "no-cache"},
    )


async def player_page(request: Request) -> Response:
    """The browser player: a kiosk browser opens this address and keeps it open."""
    response = render(request, "player.html", {})
    response.headers["cache-control"] = "no-cache"
    return response


async def player_pair(request: Request) -> Response:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest(N_("The request could not be processed.")) from None
    token = body.get("token") if isinstance(body, dict) else None
    async with transaction(request.app.state.db) as db:
        pending = await pairing.request_pairing(db, str(token or ""), client_ip(request))
        code, expires = pending.code, pending.expires_at
    return JSONResponse({"code": code, "expires": expires.isoformat()}, status_code=201)
