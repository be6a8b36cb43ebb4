"""Player screenshots: only what Pillow re-encodes is stored; up to 5 MB is accepted."""

from __future__ import annotations

import io
import os

import httpx2 as httpx
from PIL import Image

from signage.views.player import SCREENSHOT_MAX_BYTES

from .conftest import LiveServer, Staff
from .test_players import _paired_player


def test_screenshots_are_re_encoded_and_limited_by_their_own_size(
    live_server: LiveServer, staff: Staff
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    ws.close()
    url = live_server.url + "/player/screenshot"
    auth = {"Authorization": f"Bearer {token}"}
    frame = io.BytesIO()
    Image.new("RGB", (320, 180), "navy").save(frame, "PNG")
    smuggled = frame.getvalue() + b"<script>alert(1)</script>"
    assert httpx.post(url, content=smuggled, headers=auth).status_code == 201
    stored = staff.http.get(f"/screens/{screen_id}/screenshot").content
    assert b"<script>" not in stored
    assert Image.open(io.BytesIO(stored)).size == (320, 180)

    # A real frame of 2-3 MB (noise does not compress) is within the documented 5 MB,
    # though above the 1 MiB limit of forms.
    noisy = io.BytesIO()
    Image.frombytes("RGB", (1280, 720), os.urandom(1280 * 720 * 3)).save(noisy, "PNG")
    assert 1024 * 1024 < len(noisy.getvalue()) < SCREENSHOT_MAX_BYTES
    assert httpx.post(url, content=noisy.getvalue(), headers=auth, timeout=30).status_code == 201
    too_big = httpx.post(url, content=b"x" * (SCREENSHOT_MAX_BYTES + 1), headers=auth, timeout=30)
    assert too_big.status_code == 413
