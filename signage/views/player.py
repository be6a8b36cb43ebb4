"""What players fetch over HTTP: the player page, its service worker and
screenshots (pairing: views/pairing.py)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import anyio.to_thread
import sqlalchemy as sa
from PIL import Image
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from signage.errors import BadRequest, PayloadTooLarge, Unauthorized
from signage.i18n import N_
from signage.live import pairing
from signage.models import Screen
from signage.settings import PROJECT_ROOT, Settings
from signage.web import render, settings_of

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


SCREENSHOT_MAX_BYTES = 5 * 1024 * 1024
SCREENSHOT_MAX_PIXELS = 8_000_000


def screenshot_path(settings: Settings, screen_id: int) -> Path:
    return settings.media_dir / "screenshots" / f"{screen_id}.png"


async def player_screenshot(request: Request) -> Response:
    """A headless player sends the frame it shows (after a `screenshot` command)."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if not pairing.valid_token(token):
        raise Unauthorized(N_("The device token is missing or not valid."))
    async with request.app.state.readonly_db() as db:
        screen = await db.scalar(
            sa.select(Screen).where(Screen.token_hash == pairing.token_hash(token))
        )
    if screen is None:
        raise Unauthorized(N_("The device token is missing or not valid."))
    data = await request.body()
    if len(data) > SCREENSHOT_MAX_BYTES:
        raise PayloadTooLarge()

    def check_and_store() -> None:
        # Only what Pillow decoded and wrote again is kept: never bytes appended to the
        # picture, nor its text chunks.
        clean = io.BytesIO()
        try:
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                if image.width * image.height > SCREENSHOT_MAX_PIXELS:
                    raise BadRequest(N_("The picture is too large."))
                image.load()
                image.info = {}
                image.save(clean, "PNG")
        # ValueError: a text or colour profile chunk that inflates past Pillow's limit;
        # the warning: a bomb below twice Pillow's pixel limit, where warnings are errors.
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:  # fmt: skip
            raise BadRequest(N_("The file is damaged or incomplete.")) from exc
        target = screenshot_path(settings_of(request), screen.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(clean.getvalue())
        os.replace(temporary, target)

    await anyio.to_thread.run_sync(check_and_store)
    return JSONResponse({"stored": True}, status_code=201)
