"""The chime and the voice clips players fetch (signage/queue/voice.py)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from signage.errors import NotFound
from signage.web import (
    settings_of,
)


async def voice_file(request: Request) -> Response:
    """A chime or a spoken clip, named by its content: public and immutable."""
    filename: str = request.path_params["filename"]
    if not VOICE_FILE.match(filename):
        raise NotFound()
    path = settings_of(request).media_dir / "voice" / filename
    if not path.is_file():
        raise NotFound()
    return FileResponse(
        path,
        media_type="audio/wav",
        headers={"cache-control": "public, max-age=31536000, immutable"},
    )


VOICE_FILE = re.compile(r"^[A-Za-z-]{2,8}-[0-9a-f]{24,32}\.wav$")
