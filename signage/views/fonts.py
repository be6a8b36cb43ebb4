"""The fonts screens and the staff UI use, served here (never from the internet)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from signage import fonts
from signage.errors import NotFound
from signage.web import settings_of

CACHE = "public, max-age=86400"


async def fonts_css(request: Request) -> Response:
    """@font-face rules and the font list of each language (docs/content.md)."""
    css = fonts.stylesheet(settings_of(request).vendor_dir)
    return Response(css, media_type="text/css", headers={"cache-control": CACHE})


async def fonts_index(request: Request) -> Response:
    """Each font file with its languages, size and SHA-256 (docs/protocol.md)."""
    # The first call hashes the files (about 60 MB): not on the event loop.
    body = await run_in_threadpool(fonts.index, settings_of(request).vendor_dir)
    return JSONResponse(body)


async def font_file(request: Request) -> Response:
    font = fonts.font_files(settings_of(request).vendor_dir).get(request.path_params["filename"])
    if font is None:
        raise NotFound()
    return FileResponse(font.path, media_type="font/ttf", headers={"cache-control": CACHE})
