"""End to end through the integration API alone: a token made by `signage create-api-token`
writes a notice, sends it for approval and approves it, and a real player on the real
server's websocket (docs/protocol.md) receives a manifest that plays it."""

from __future__ import annotations

import json
import secrets
import time

import httpx2 as httpx
from websockets.sync.client import ClientConnection, connect

from .conftest import LiveServer, Staff


def _manifests(ws: ClientConnection, seconds: float) -> list[dict[str, object]]:
    """Every manifest the player receives until it has been quiet for `seconds`."""
    found = []
    last = time.monotonic()
    while time.monotonic() - last < seconds:
        try:
            message = json.loads(ws.recv(timeout=0.1))
        except TimeoutError:
            continue
        last = time.monotonic()
        if message["type"] == "manifest":
            found.append(message["manifest"])
    return found


def _plays(manifest: dict[str, object], notice_id: int) -> str | None:
    """The Japanese title of the notice if the manifest plays it."""
    notices = manifest["notices"]
    assert isinstance(notices, dict)
    body = notices.get(str(notice_id))
    if body is None:
        return None
    return next(t["title"] for t in body["texts"] if t["language"] == "ja")


def test_a_notice_goes_from_the_api_to_a_playing_screen(
    live_server: LiveServer, staff: Staff
) -> None:
    # Set-up by staff: a site, a playlist, a paired screen that plays it.
    site_id = staff.site()
    playlist_id = staff.playlist([], name="窓口案内")
    device = secrets.token_urlsafe(24)
    code = staff.http.post("/player/pair", json={"token": device}).json()["code"]
    ws = connect(
        live_server.url.replace("http://", "ws://") + "/player/ws", open_timeout=10, legacy=True
    )
    try:
        ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "token": device,
                    "protocol": 1,
                    "epoch": None,
                    "seq": 0,
                    "manifest_version": 0,
                    "player": {"kind": "test", "version": "1"},
                }
            )
        )
        assert json.loads(ws.recv(timeout=10))["type"] == "pairing"
        screen_id = staff.pair(code, site_id)
        staff.play_by_default(screen_id, playlist_id)
        _manifests(ws, 1.0)

        made = live_server.cli(
            "create-api-token", "records-robot",
            "--scope", "notices:write", "--scope", "notices:approve",
            "--scope", "playlists:write",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1]
        api = httpx.Client(
            base_url=live_server.url,
            headers={"authorization": f"Bearer {token}", "accept-language": "en"},
            timeout=30,
        )
        # The API alone from here on.
        created = api.post(
            "/api/v1/notices",
            json={
                "texts": [
                    {"language": "ja", "title": "マイナンバーカードの受け取り"},
                    {"language": "en", "title": "My Number cards", "body": "At counter 3."},
                ],
                "style": "important",
                "playlist_id": playlist_id,
                "seconds": 12,
            },
        )
        assert created.status_code == 201, created.text
        notice_id = created.json()["id"]
        submitted = api.post(f"/api/v1/notices/{notice_id}/submit")
        assert submitted.json()["status"] == "pending", submitted.text
        before = _manifests(ws, 1.0)
        assert all(_plays(m, notice_id) is None for m in before)  # not approved yet

        approved = api.post(f"/api/v1/notices/{notice_id}/approve")
        assert approved.json()["status"] == "approved", approved.text
        after = _manifests(ws, 1.5)
        assert after, "no manifest reached the player after the approval"
        assert _plays(after[-1], notice_id) == "マイナンバーカードの受け取り"
        api.close()
    finally:
        ws.close()
