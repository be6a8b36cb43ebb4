"""The Redis hub (signage/live/redis_hub.py): two apps, each a real server (uvicorn in a
thread) with its own hub front and backend, on one database and one Redis server started
for the test (restarted by one test, so never the shared one). Real websocket players."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from signage.app import create_app
from signage.live.hub import CLOSE_REPLACED, CLOSE_RESTART, Hub
from signage.live.redis_hub import HubUnavailable
from signage.models import Role, Screen
from signage.settings import Settings

from .conftest import PASSWORD, add_site, add_user, free_port
from .test_fanout import ThreadServer, _screens


class RedisServer:
    """A redis-server of our own, without persistence: a restart loses its data."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with connect_tcp(self.port) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def connect_tcp(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=1)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Pair:
    """Two server "processes" A and B sharing the database and Redis."""

    def __init__(self, settings: Settings) -> None:
        self.a = ThreadServer(settings)
        self.b = ThreadServer(settings)
        for server in (self.a, self.b):
            server.thread.start()
        deadline = time.monotonic() + 30
        while not (self.a.server.started and self.b.server.started):
            assert time.monotonic() < deadline, "servers did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        for server in (self.a, self.b):
            server.server.should_exit = True
        for server in (self.a, self.b):
            server.thread.join(timeout=30)


@pytest.fixture
def pair(settings: Settings, db: sa.Engine, redis_server: RedisServer) -> Iterator[Pair]:
    both = Pair(dataclasses.replace(settings, hub_url=redis_server.url))
    yield both
    both.stop()


def hub(server: ThreadServer) -> Hub:
    found: Hub = server.app.state.hub
    return found


def run(server: ThreadServer, work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    assert server.loop is not None
    return asyncio.run_coroutine_threadsafe(work(), server.loop).result(timeout=30)


def ws(server: ThreadServer) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{server.port}/player/ws", open_timeout=10, legacy=True)


def hello(token: str, **extra: object) -> str:
    message = {
        "type": "hello",
        "token": token,
        "protocol": 1,
        "epoch": None,
        "seq": 0,
        "manifest_version": 0,
        "player": {"kind": "test", "version": "1"},
    }
    return json.dumps(message | extra)


def recv(player: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(player.recv(timeout=timeout))
    return message


def next_of(player: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next message of this type (others, e.g. the board on connect, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        message = recv(player, max(0.1, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


def close_code(player: ClientConnection, timeout: float = 10.0) -> int | None:
    try:
        while True:
            player.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def join(server: ThreadServer, token: str, **extra: object) -> tuple[ClientConnection, Any]:
    player = ws(server)
    player.send(hello(token, **extra))
    welcome = next_of(player, "welcome")
    return player, welcome


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_events_from_both_processes_reach_players_on_both_in_one_order(
    pair: Pair, db: sa.Engine
) -> None:
    (_, one_token), (two, two_token) = _screens(db, 2)
    player_a, welcome_a = join(pair.a, one_token)
    player_b, welcome_b = join(pair.b, two_token)
    assert welcome_a["epoch"] == welcome_b["epoch"]  # one epoch, whichever process
    with player_a, player_b:
        for i in range(30):
            source = pair.a if i % 2 else pair.b
            pair_call = hub(source).publish
            source.call(lambda call=pair_call, i=i: call({"kind": "n", "i": i}))
        only_two = pair.a.call(lambda: hub(pair.a).publish({"kind": "only"}, [two]))
        assert only_two is None  # numbered in Redis, not here
        got_a = [next_of(player_a, "event") for _ in range(30)]
        got_b = [next_of(player_b, "event") for _ in range(31)]
    seqs = [m["seq"] for m in got_a]
    assert seqs == sorted(seqs) and len(set(seqs)) == 30
    # Publishes from two processes have no order between them until Redis numbers them:
    # "only" may come before B's last events, but both players see one order.
    assert [m["id"] for m in got_a] == [m["id"] for m in got_b if m["event"] != {"kind": "only"}]
    assert sorted(m["event"]["i"] for m in got_a) == list(range(30))
    assert [m["event"] for m in got_b].count({"kind": "only"}) == 1
    assert [m["seq"] for m in got_b] == sorted({m["seq"] for m in got_b})


def test_a_player_catches_up_on_the_other_process_from_the_shared_buffer(
    pair: Pair, db: sa.Engine
) -> None:
    (one, token), (other, _) = _screens(db, 2)
    player, welcome = join(pair.a, token)
    with player:
        pair.a.call(lambda: hub(pair.a).publish({"kind": "seen"}, [one]))
        seen = next_of(player, "event")
    # Away: events for it and for another screen are published on both processes.
    pair.b.call(lambda: hub(pair.b).publish({"kind": "missed-1"}, [one]))
    pair.a.call(lambda: hub(pair.a).publish({"kind": "not-mine"}, [other]))
    pair.a.call(lambda: hub(pair.a).publish({"kind": "missed-2"}))
    wait_until(lambda: hub(pair.b).seq >= seen["seq"] + 3)
    again, welcome_b = join(pair.b, token, epoch=welcome["epoch"], seq=seen["seq"])
    with again:
        assert welcome_b["epoch"] == welcome["epoch"]
        caught = [next_of(again, "event") for _ in range(2)]
        assert [m["event"]["kind"] for m in caught] == ["missed-1", "missed-2"]
        assert welcome_b["seq"] == caught[-1]["seq"]
    # Another epoch, or a seq beyond what was delivered: nothing to catch up (a resync).
    assert run(pair.b, lambda: hub(pair.b).missed(one, "other", seen["seq"])) is None
    assert run(pair.b, lambda: hub(pair.b).missed(one, welcome["epoch"], 10**6)) is None
    missed = run(pair.b, lambda: hub(pair.b).missed(one, welcome["epoch"], 0))
    assert [json.loads(t)["event"]["kind"] for t in missed] == [
        "seen",
        "missed-1",
        "missed-2",
    ]


def test_boards_and_manifests_reach_screens_on_the_other_process(pair: Pair, db: sa.Engine) -> None:
    [(screen, token)] = _screens(db, 1)
    site = db.connect().execute(sa.select(Screen.site_id)).scalar_one()
    player, _ = join(pair.b, token)
    with player:
        board = json.dumps({"type": "queue", "board": {"marker": "from A"}})
        pair.a.call(lambda: hub(pair.a).set_board(site, board, [screen]))
        assert next_of(player, "queue")["board"] == {"marker": "from A"}
        pair.a.call(lambda: hub(pair.a).set_manifest(screen, 10**6, {"marker": "A"}))
        manifest = next_of(player, "manifest")
        assert manifest["version"] == 10**6 and manifest["manifest"] == {"marker": "A"}
    # Every process's cache now has both: a player connecting anywhere gets them.
    for server in (pair.a, pair.b):
        cached = server.call(lambda s=server: hub(s).manifest(screen))
        assert cached is not None and cached[0] == 10**6
        assert server.call(lambda s=server: hub(s).board(site)) == board
    again, _ = join(pair.a, token)
    with again:
        assert next_of(again, "manifest")["version"] == 10**6
        assert next_of(again, "queue")["board"] == {"marker": "from A"}


def test_a_new_socket_on_one_process_replaces_the_screens_socket_on_the_other(
    pair: Pair, db: sa.Engine
) -> None:
    [(screen, token)] = _screens(db, 1)
    old, _ = join(pair.a, token)
    with old:
        wait_until(lambda: pair.a.call(lambda: screen in hub(pair.a).online()))
        new, _ = join(pair.b, token)
        with new:
            assert close_code(old) == CLOSE_REPLACED
            pair.a.call(lambda: hub(pair.a).publish({"kind": "still-here"}, [screen]))
            assert next_of(new, "event")["event"] == {"kind": "still-here"}
            assert pair.a.call(lambda: hub(pair.a).online()) == set()


def test_fleet_status_and_disconnects_cross_processes(pair: Pair, db: sa.Engine) -> None:
    [(screen, token)] = _screens(db, 1)
    player, _ = join(pair.a, token)
    with player:
        player.send(json.dumps({"type": "heartbeat", "playing": {"main": "n:1"}}))

        def seen_on_b() -> bool:
            found = run(pair.b, lambda: hub(pair.b).fleet([screen]))
            status = found.get(screen, {})
            return bool(status.get("online") and status.get("playing") == {"main": "n:1"})

        wait_until(seen_on_b)
        pair.b.call(lambda: hub(pair.b).disconnect(screen, 4002))
        assert close_code(player) == 4002
    wait_until(lambda: run(pair.b, lambda: hub(pair.b).fleet([screen])) == {})


def test_a_code_entered_on_one_process_releases_the_player_waiting_on_the_other(
    pair: Pair, db: sa.Engine
) -> None:
    add_user(db, "chief", Role.ADMIN)
    site = add_site(db)
    token = secrets.token_urlsafe(24)
    base_a = f"http://127.0.0.1:{pair.a.port}"
    base_b = f"http://127.0.0.1:{pair.b.port}"
    code = httpx.post(base_a + "/player/pair", json={"token": token}, timeout=10).json()["code"]
    player = ws(pair.a)
    with player, httpx.Client(base_url=base_b, follow_redirects=False, timeout=30) as staff:
        player.send(hello(token))
        assert recv(player) == {"type": "pairing", "code": code}

        def post(path: str, data: dict[str, str], page: str) -> httpx.Response:
            found = re.search(r'name="csrf_token" value="([^"]+)"', staff.get(page).text)
            assert found
            return staff.post(path, data={**data, "csrf_token": found.group(1)})

        login = post("/login", {"username": "chief", "password": PASSWORD}, "/login")
        assert login.status_code == 303
        response = post(
            "/screens/pair",
            {
                "code": code,
                "screen_id": "",
                "name": "ロビー",
                "site_id": str(site),
                "layout": "hall",
                "default_playlist_id": "",
                "groups": "",
            },
            "/screens/pair",
        )
        assert response.status_code == 303, response.text[-500:]
        assert recv(player)["type"] == "paired"
        assert recv(player)["type"] == "welcome"


def test_a_redis_restart_closes_players_who_resync_with_the_new_epoch(
    pair: Pair, db: sa.Engine, redis_server: RedisServer
) -> None:
    (one, token_one), (two, token_two) = _screens(db, 2)
    player_a, welcome = join(pair.a, token_one)
    player_b, _ = join(pair.b, token_two)
    with player_a, player_b:
        pair.a.call(lambda: hub(pair.a).publish({"kind": "before"}))
        seq = next_of(player_a, "event")["seq"]
        next_of(player_b, "event")
        redis_server.stop()
        # Publishing while Redis is down neither raises nor blocks.
        pair.b.call(lambda: hub(pair.b).publish({"kind": "while-down"}))
        redis_server.start()
        assert close_code(player_a, 20) == CLOSE_RESTART
        assert close_code(player_b, 20) == CLOSE_RESTART
    again, fresh = join(pair.b, token_one, epoch=welcome["epoch"], seq=seq)
    with again:
        assert fresh["epoch"] != welcome["epoch"]
        pair.a.call(lambda: hub(pair.a).publish({"kind": "after"}, [one]))
        assert next_of(again, "event")["event"] == {"kind": "after"}
    assert two


def test_a_server_whose_redis_cannot_be_reached_refuses_to_start(settings: Settings) -> None:
    port = free_port()  # nothing listens there
    app = create_app(
        dataclasses.replace(settings, hub_url=f"redis://127.0.0.1:{port}/0"), scheduler=False
    )
    refused = f"cannot reach the Redis hub at 127.0.0.1:{port}"
    with pytest.raises(HubUnavailable, match=refused), TestClient(app):
        pass
