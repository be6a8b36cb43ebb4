"""Fan-out under a stalled player: the real server (uvicorn, in a thread) and real
websocket clients. One client stops reading; the hub drops it (4004) while 100 others
receive every event, in order."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect

from signage.app import create_app
from signage.db import utcnow
from signage.models import Screen
from signage.pairing import token_hash
from signage.settings import Settings

from .conftest import add_site, free_port

NORMAL = 100
EVENTS = 600
PAD = "x" * 16_000


class ThreadServer:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings, scheduler=False)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = free_port()

        async def capture(scope: Scope, receive: Receive, send: Send) -> None:
            if self.loop is None:
                self.loop = asyncio.get_running_loop()
            await self.app(scope, receive, send)

        config = uvicorn.Config(
            capture,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_per_message_deflate=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def call(self, function: Any, *args: Any) -> Any:
        assert self.loop is not None

        async def run() -> Any:
            return function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)


@pytest.fixture
def thread_server(settings: Settings, db: sa.Engine) -> Iterator[ThreadServer]:
    server = ThreadServer(settings)
    server.thread.start()
    deadline = time.monotonic() + 30
    while not server.server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield server
    server.server.should_exit = True
    server.thread.join(timeout=30)


def _screens(db: sa.Engine, count: int) -> list[tuple[int, str]]:
    site_id = add_site(db)
    made = []
    with db.begin() as conn:
        for i in range(count):
            token = secrets.token_urlsafe(24)
            result = conn.execute(
                sa.insert(Screen).values(
                    site_id=site_id,
                    name=f"s{i}",
                    layout="full",
                    token_hash=token_hash(token),
                    created_at=utcnow(),
                    player_kind="",
                    player_version="",
                    manifest_ack=0,
                )
            )
            made.append((int(result.inserted_primary_key[0]), token))  # type: ignore[index]
    return made


def _hello(token: str) -> str:
    return json.dumps(
        {
            "type": "hello",
            "token": token,
            "protocol": 1,
            "epoch": None,
            "seq": 0,
            "manifest_version": 0,
            "player": {"kind": "test", "version": "1"},
        }
    )


def test_a_player_that_stops_reading_is_dropped_while_100_others_keep_receiving(
    thread_server: ThreadServer, db: sa.Engine
) -> None:
    screens = _screens(db, NORMAL + 1)
    url = f"ws://127.0.0.1:{thread_server.port}/player/ws"
    hub = thread_server.app.state.hub
    slow_id, slow_token = screens[-1]

    async def scenario() -> tuple[list[list[int]], set[int]]:
        normal = [await connect(url, max_size=None) for _ in range(NORMAL)]
        for ws, (_, token) in zip(normal, screens, strict=False):
            await ws.send(_hello(token))
            assert json.loads(await ws.recv())["type"] == "welcome"
        # The stalled player: it says hello, then never reads again.
        slow = await connect(url, max_queue=1, max_size=None)
        await slow.send(_hello(slow_token))

        async def read_all(ws: Any) -> list[int]:
            seqs = []
            while len(seqs) < EVENTS:
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if message["type"] == "event":
                    seqs.append(message["seq"])
            return seqs

        readers = [asyncio.ensure_future(read_all(ws)) for ws in normal]
        for _ in range(0, EVENTS, 20):
            thread_server.call(
                lambda: [hub.publish({"kind": "test", "pad": PAD}) for _i in range(20)]
            )
            await asyncio.sleep(0.03)
        received = await asyncio.gather(*readers)
        online = thread_server.call(hub.online)
        for ws in [*normal, slow]:
            await ws.close()
        return received, online

    received, online = asyncio.run(scenario())
    assert all(len(seqs) == EVENTS for seqs in received)
    assert all(seqs == sorted(seqs) for seqs in received)
    assert slow_id not in online  # dropped for falling behind
    assert len(online & {screen_id for screen_id, _ in screens[:NORMAL]}) == NORMAL
