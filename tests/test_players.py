"""The player protocol with the real server and real websocket clients (docs/protocol.md)."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .conftest import LiveServer

PASSWORD = "a long admin password"


def _ws(server: LiveServer, origin: str | None = None) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + "/player/ws"
    headers = {"Origin": origin} if origin else None
    return connect(url, additional_headers=headers, open_timeout=10, legacy=True)


def _recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return message


def _close_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def _hello(token: str, **extra: object) -> str:
    return json.dumps(
        {
            "type": "hello",
            "token": token,
            "protocol": 1,
            "epoch": None,
            "seq": 0,
            "manifest_version": 0,
            "player": {"kind": "test", "version": "1"},
            **extra,
        }
    )


class Staff:
    """A publisher in the staff UI, over HTTP."""

    def __init__(self, server: LiveServer) -> None:
        made = server.cli("create-admin", "chief", "--password-stdin", stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
        self.post("/login", {"username": "chief", "password": PASSWORD}, page="/login")

    def token(self, page: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.http.get(page).text)
        assert match, page
        return match.group(1)

    def post(self, path: str, data: dict[str, object], page: str = "/") -> httpx.Response:
        response = self.http.post(path, data={**data, "csrf_token": self.token(page)})
        assert response.status_code in (201, 303), (
            path,
            response.status_code,
            response.text[-500:],
        )
        return response

    def site(self) -> int:
        self.post(
            "/sites",
            {
                "code": "honcho",
                "name": "本庁舎",
                "timezone": "Asia/Tokyo",
                "languages": ["ja", "en"],
                "active": "1",
            },
            page="/sites",
        )
        match = re.search(r'/sites/(\d+)"', self.http.get("/sites").text)
        assert match
        return int(match.group(1))

    def pair(self, code: str, site_id: int, name: str = "1F ロビー") -> int:
        response = self.post(
            "/screens/pair",
            {
                "code": code,
                "screen_id": "",
                "name": name,
                "site_id": str(site_id),
                "layout": "hall",
                "default_playlist_id": "",
                "groups": "",
            },
            page="/screens/pair",
        )
        match = re.search(r"/screens/(\d+)", response.headers["location"])
        assert match
        return int(match.group(1))


@pytest.fixture
def staff(live_server: LiveServer) -> Iterator[Staff]:
    person = Staff(live_server)
    yield person
    person.http.close()


def _request_code(server: LiveServer, token: str) -> str:
    response = httpx.post(server.url + "/player/pair", json={"token": token}, timeout=10)
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{3}", code)
    return code


def _paired_player(server: LiveServer, staff: Staff) -> tuple[str, int, ClientConnection]:
    token = secrets.token_urlsafe(24)
    code = _request_code(server, token)
    ws = _ws(server)
    ws.send(_hello(token))
    assert _recv(ws) == {"type": "pairing", "code": code}
    screen_id = staff.pair(code, staff.site())
    assert _recv(ws)["type"] == "paired"
    welcome = _recv(ws)
    assert welcome["type"] == "welcome" and welcome["screen"]["id"] == screen_id
    manifest = _recv(ws)
    assert manifest["type"] == "manifest" and manifest["version"] >= 1
    return token, screen_id, ws


def test_pairing_starts_playback_on_the_same_socket(live_server: LiveServer, staff: Staff) -> None:
    token, _, ws = _paired_player(live_server, staff)
    with ws:
        ws.send(json.dumps({"type": "ack", "manifest_version": 1}))
    # A reconnect with the same token is welcomed at once; an up-to-date player gets no
    # manifest again.
    with _ws(live_server) as again:
        again.send(_hello(token, manifest_version=1))
        assert _recv(again)["type"] == "welcome"
        with pytest.raises(TimeoutError):
            again.recv(timeout=0.5)
    fleet = staff.http.get("/fleet").text
    assert "1F ロビー" in fleet


@pytest.mark.parametrize(
    ("hello", "code"),
    [
        ("not json", 4000),
        (json.dumps({"type": "heartbeat"}), 4000),
        (json.dumps({"type": "hello"}), 4001),
        (json.dumps({"type": "hello", "token": "x" * 40}), 4001),
        (json.dumps({"type": "hello", "token": "bad token with spaces!!"}), 4001),
    ],
)
def test_bad_hellos_are_closed_with_their_code(
    live_server: LiveServer, hello: str, code: int
) -> None:
    with _ws(live_server) as ws:
        ws.send(hello)
        assert _close_code(ws) == code
    assert httpx.get(live_server.url + "/healthz").status_code == 200


def test_foreign_origin_is_closed(live_server: LiveServer) -> None:
    with _ws(live_server, origin="http://evil.example") as ws:
        with contextlib.suppress(ConnectionClosed):  # it may be closed before the hello
            ws.send(_hello(secrets.token_urlsafe(24)))
        assert _close_code(ws) == 4003


def test_oversized_message_is_closed(live_server: LiveServer) -> None:
    with _ws(live_server) as ws:
        ws.send("x" * 200_000)
        assert _close_code(ws) in (1009, 4000)


def test_revoking_closes_the_socket_and_the_token_stops_working(
    live_server: LiveServer, staff: Staff
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        staff.post(f"/screens/{screen_id}/revoke", {}, page=f"/screens/{screen_id}")
        assert _close_code(ws) == 4002
    with _ws(live_server) as again:
        again.send(_hello(token))
        assert _close_code(again) == 4001


def test_a_command_reaches_the_screen_and_is_caught_up_after_a_reconnect(
    live_server: LiveServer, staff: Staff
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        staff.post(f"/screens/{screen_id}/command", {"command": "identify"}, page="/fleet")
        event = _recv(ws)
        assert event["type"] == "event" and event["event"]["kind"] == "identify"
        seq = event["seq"]
    welcome_epoch = None
    with _ws(live_server) as probe:
        probe.send(_hello(token, manifest_version=1))
        welcome_epoch = _recv(probe)["epoch"]
    # While the player is away, a reload command is sent; it gets it on reconnect.
    staff.post(f"/screens/{screen_id}/command", {"command": "reload"}, page="/fleet")
    with _ws(live_server) as again:
        again.send(_hello(token, epoch=welcome_epoch, seq=seq, manifest_version=1))
        assert _recv(again)["type"] == "welcome"
        missed = _recv(again)
        assert missed["type"] == "event" and missed["event"]["kind"] == "reload"
        assert missed["seq"] > seq
