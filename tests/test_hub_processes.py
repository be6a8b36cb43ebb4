"""Two `signage serve` processes on one PostgreSQL database and one Redis hub (a
redis-server of the test's own), with real websocket players: what staff do on one process
reaches players on the other; a killed process's players reconnect to the other through a
proxy and catch up; a Redis restart costs players one reconnect."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from typing import Any

import httpx2 as httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .conftest import PG_URL
from .procs import Processes, Server, csrf_token, login
from .test_redis_hub import RedisServer, redis_server  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.skipif(
        not PG_URL,
        reason="several server processes need PostgreSQL (SQLite serves one process): "
        "set SIGNAGE_TEST_DATABASE_URL",
    ),
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="the Redis hub tests start their own redis-server (apt-get install redis-server)",
    ),
]


class Player:
    """A real websocket player that remembers what it has applied, as players do."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.epoch: str | None = None
        self.seq = 0
        self.manifest_version = 0
        self.ws: ClientConnection | None = None

    def connect(self, port: int) -> dict[str, Any]:
        """Connect, say hello with what it has; returns the welcome."""
        self.ws = connect(f"ws://127.0.0.1:{port}/player/ws", open_timeout=10, legacy=True)
        self.ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "token": self.token,
                    "protocol": 1,
                    "epoch": self.epoch,
                    "seq": self.seq,
                    "manifest_version": self.manifest_version,
                    "player": {"kind": "test", "version": "1"},
                }
            )
        )
        welcome = self.next("welcome")
        if welcome["epoch"] != self.epoch:
            self.seq = 0  # a fresh start
        self.epoch = welcome["epoch"]
        return welcome

    def recv(self, timeout: float = 15.0) -> dict[str, Any]:
        assert self.ws is not None
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        if message["type"] == "event":
            self.seq = max(self.seq, message["seq"])
        elif message["type"] == "manifest":
            self.manifest_version = message["version"]
        return message

    def next(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv(max(0.1, deadline - time.monotonic()))
            if message["type"] == kind:
                return message

    def close_code(self, timeout: float = 20.0) -> int | None:
        assert self.ws is not None
        try:
            while True:
                self.recv(timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006  # dropped without a close

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def _demo(processes: Processes) -> tuple[dict[str, str], str, list[str], list[str]]:
    """Load the demo city hall: passwords, the kiosk token, console paths, player tokens."""
    out = processes.cli("load-demo")
    passwords = dict(re.findall(r"^\s+(\w+)\s+(\S+)  ", out, re.M))
    kiosk = re.search(r"/kiosk/#token=([A-Za-z0-9_-]+)", out)
    consoles = re.findall(r"\(log in as suzuki\): \S+?(/counter/\d+)", out)
    players = re.findall(r"/player/#token=(\S+)$", out, re.M)
    assert kiosk and consoles and len(players) >= 2 and "suzuki" in passwords, out
    return passwords, kiosk.group(1), consoles, players


def _issue(server: Server, kiosk: str) -> None:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {kiosk}"}, timeout=30
    ) as http:
        service = http.get("/api/kiosk/setup").json()["services"][0]["id"]
        made = http.post("/api/kiosk/tickets", json={"service": service})
        assert made.status_code == 201, made.text


def _call_next(server: Server, password: str, console: str) -> None:
    """Counter staff press "call next" on `server`'s console, as htmx sends it."""
    with contextlib.closing(login(server.url, "suzuki", password)) as clerk:
        answer = clerk.post(
            console + "/next",
            data={"csrf_token": csrf_token(clerk, console)},
            headers={"HX-Request": "true"},
        )
        assert answer.status_code == 200, answer.text[-300:]


def _titles(message: dict[str, Any]) -> set[str]:
    return {t["title"] for n in message["manifest"]["notices"].values() for t in n["texts"]}


def test_two_processes_share_calls_manifests_and_players(
    processes: Processes,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a = processes.serve(HUB_URL=redis_server.url)
    b = processes.serve(HUB_URL=redis_server.url)
    passwords, kiosk, consoles, tokens = _demo(processes)
    proxy = processes.proxy(("127.0.0.1", a.port), ("127.0.0.1", b.port))
    on_b, via_proxy = Player(tokens[0]), Player(tokens[1])
    try:
        on_b.connect(b.port)
        welcome = via_proxy.connect(proxy.port)  # the proxy's first choice: A
        assert welcome["epoch"] == on_b.epoch  # one epoch for both processes
        shown = via_proxy.next("manifest")
        on_b.next("manifest")

        # A call made through A's counter console reaches the player on B (and on A).
        _issue(a, kiosk)
        _call_next(a, passwords["suzuki"], consoles[0])
        call = on_b.next("event")
        assert call["event"]["kind"] == "queue.call"
        assert via_proxy.next("event")["id"] == call["id"]

        # A notice edited on B reaches the player on A with its new text.
        notice = sorted(shown["manifest"]["notices"])[0]
        with contextlib.closing(login(b.url, "admin", passwords["admin"])) as staff:
            edited = staff.post(
                f"/notices/{notice}",
                data={
                    "site_id": "",
                    "style": "normal",
                    "title_ja": "プロセスBで編集",
                    "body_ja": "",
                    "action": "approve",
                    "csrf_token": csrf_token(staff, f"/notices/{notice}"),
                },
            )
            assert edited.status_code == 303, edited.text[-500:]
        changed = via_proxy.next("manifest")
        assert changed["version"] > shown["version"]
        assert "プロセスBで編集" in _titles(changed)

        # B's fleet view shows both screens online: one here, one on A.
        with contextlib.closing(login(b.url, "admin", passwords["admin"])) as staff:
            deadline = time.monotonic() + 10
            while (
                online := staff.get("/fleet").text.count('class="status status-approved online"')
            ) < 2:
                assert time.monotonic() < deadline, f"{online} screens online on B's fleet view"
                time.sleep(0.2)

        # kill -9 A. Meanwhile B calls again; the player reconnects through the proxy to B
        # and is sent only what it missed: the call, no manifest.
        a.kill()
        assert via_proxy.close_code() == 1006
        seq = via_proxy.seq
        _issue(b, kiosk)
        _call_next(b, passwords["suzuki"], consoles[0])
        missed_on_b = on_b.next("event")
        again = via_proxy.connect(proxy.port)
        assert again["epoch"] == welcome["epoch"]
        first = via_proxy.recv()
        assert first["type"] == "event" and first["id"] == missed_on_b["id"]
        assert first["seq"] == seq + 1
        before_board = []
        while (message := via_proxy.recv())["type"] != "queue":  # then the site's board
            before_board.append(message["type"])
        assert "manifest" not in before_board  # up to date: no full resync

        # Redis restarts (its data gone): both players are closed with 1012 and, after one
        # reconnect, are on the new epoch and receive the next call.
        redis_server.stop()
        redis_server.start()
        assert on_b.close_code() == 1012
        assert via_proxy.close_code() == 1012
        on_b.connect(b.port)
        fresh = via_proxy.connect(proxy.port)
        assert fresh["epoch"] != welcome["epoch"]
        _issue(b, kiosk)
        _call_next(b, passwords["suzuki"], consoles[0])
        assert on_b.next("event")["event"]["kind"] == "queue.call"
        assert via_proxy.next("event")["event"]["kind"] == "queue.call"
    except BaseException:
        print(processes.logs()[-8000:])
        raise
    finally:
        on_b.close()
        via_proxy.close()
