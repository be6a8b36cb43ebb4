"""Connections are bounded: request heads have a deadline, one socket per screen token,
hellos of unknown protocol versions or absurd nesting get a proper close."""

from __future__ import annotations

import json
import secrets
import socket
import time

import pytest
from websockets.sync.client import ClientConnection

from signage.http_protocol import HEAD_SECONDS

from .conftest import LiveServer, Staff
from .test_players import _close_code, _hello, _paired_player, _recv, _ws


def _closed_by_server(connection: socket.socket, deadline: float) -> bool:
    connection.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while connection.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_connections_that_never_finish_a_request_head_are_closed(live_server: LiveServer) -> None:
    host, port = "127.0.0.1", int(live_server.url.rsplit(":", 1)[1])
    silent = [socket.create_connection((host, port)) for _ in range(20)]
    slow = [socket.create_connection((host, port)) for _ in range(20)]
    for connection in slow:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    deadline = time.monotonic() + HEAD_SECONDS + 5
    try:
        assert all(_closed_by_server(c, deadline) for c in silent + slow)
    finally:
        for connection in silent + slow:
            connection.close()


def _stays_open(ws: ClientConnection, quiet: float = 0.5) -> None:
    """Messages may come (a manifest, a board); a close may not (recv would raise)."""
    with pytest.raises(TimeoutError):
        while True:
            ws.recv(timeout=quiet)


def test_a_screen_token_holds_one_socket_the_newest(live_server: LiveServer, staff: Staff) -> None:
    token, _, first = _paired_player(live_server, staff)
    others = []
    with first:
        for _ in range(3):
            ws = _ws(live_server)
            ws.send(_hello(token, manifest_version=1))
            assert _recv(ws)["type"] == "welcome"
            others.append(ws)
        # Each newer socket replaced the one before it, which was closed with 4005.
        assert _close_code(first) == 4005
        for ws in others[:-1]:
            assert _close_code(ws) == 4005
        newest = others[-1]
        _stays_open(newest)
        newest.send(json.dumps({"type": "heartbeat", "manifest_version": 1, "playing": {}}))
        _stays_open(newest)
    for ws in others:
        ws.close()


def test_unknown_protocol_versions_are_refused(live_server: LiveServer) -> None:
    for protocol in [2, 0, "1", -1, None, 1.0, True]:
        with _ws(live_server) as ws:
            ws.send(_hello(secrets.token_urlsafe(24), protocol=protocol))
            assert _close_code(ws) == 4006, protocol


def test_a_hello_nested_thousands_deep_is_closed_properly(live_server: LiveServer) -> None:
    with _ws(live_server) as ws:
        ws.send('{"type": "hello", "token": ' + "[" * 30000 + "]" * 30000 + "}")
        assert _close_code(ws) == 4000  # a close frame with its code, not a dropped socket
    log = live_server.log.read_text()
    assert "Traceback" not in log
