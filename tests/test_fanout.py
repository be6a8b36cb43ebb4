"""Fan-out under a stalled player: the real server (uvicorn with the options of `signage
serve`, in a thread) and real websocket clients. One client stops reading; the hub drops
it (4004) while 100 others receive every event, in order. Then the fast path on its own:
the hub writes straight to idle players and queues for the others, and the server's
synchronous write declines whenever the ordinary `send` would have to wait."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState
from websockets.asyncio.client import connect

from signage.app import create_app
from signage.cli import server_options
from signage.db import utcnow
from signage.live.hub import CLOSE_TOO_SLOW, QUEUE_SIZE, Hub
from signage.live.pairing import token_hash
from signage.live.socket import SEND_NOWAIT, PlayerWebSocketProtocol
from signage.models import Screen
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
            lifespan="on",
            **server_options(),
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
    thread_server: ThreadServer, db: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Count what the server's synchronous write does: it must have carried events (the
    # fast path is in use) and declined some (the stalled player's transport backed up).
    written = Counter[bool]()
    send_nowait = PlayerWebSocketProtocol.send_nowait

    def counting(self: PlayerWebSocketProtocol, text: str) -> bool:
        done = send_nowait(self, text)
        written[done] += 1
        return done

    monkeypatch.setattr(PlayerWebSocketProtocol, "send_nowait", counting)
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
    assert written[True] > 0 and written[False] > 0


# --- the fast path on its own ----------------------------------------------------------


class _Writer:
    """A subscriber's `write` that takes messages while `open`, and declines otherwise."""

    def __init__(self) -> None:
        self.open = True
        self.written: list[str] = []

    def __call__(self, text: str) -> bool:
        if self.open:
            self.written.append(text)
        return self.open


def _seq(text: str) -> int:
    return int(json.loads(text)["seq"])


def test_the_hub_writes_to_an_idle_player_at_once_and_queues_behind_a_backed_up_one() -> None:
    async def scenario() -> None:
        hub = Hub()
        subscriber = hub.subscribe(1)
        writer = _Writer()
        subscriber.write = writer
        # No sender waiting yet (the socket is still sending welcome and catch-up): queue.
        first = hub.publish({"kind": "a"})
        assert writer.written == [] and len(subscriber.events) == 1
        assert [_seq(t) for t in await subscriber.next_batch()] == [first]

        sender = asyncio.ensure_future(subscriber.next_batch())
        await asyncio.sleep(0)  # the sender now waits: idle
        second = hub.publish({"kind": "b"})
        assert [_seq(t) for t in writer.written] == [second]
        assert not subscriber.events and not sender.done()  # written, no task woken

        writer.open = False  # the transport backs up
        third = hub.publish({"kind": "c"})
        writer.open = True  # and drains again, but the sender has not caught up yet
        fourth = hub.publish({"kind": "d"})
        assert [_seq(t) for t in writer.written] == [second]  # nothing overtook the queue
        assert [_seq(t) for t in await sender] == [third, fourth]

        sender = asyncio.ensure_future(subscriber.next_batch())
        await asyncio.sleep(0)
        hub.publish({"kind": "e"})
        assert len(writer.written) == 2  # idle again: straight through
        sender.cancel()

    asyncio.run(scenario())


def test_a_player_whose_transport_stays_backed_up_is_closed_too_slow() -> None:
    async def scenario() -> None:
        hub = Hub()
        stalled, other = hub.subscribe(1), hub.subscribe(2)
        stalled_writer, other_writer = _Writer(), _Writer()
        stalled.write, other.write = stalled_writer, other_writer
        stalled_writer.open = False
        closed: list[int] = []
        stalled.on_close = lambda: closed.append(1)
        sender = asyncio.ensure_future(stalled.next_batch())
        other_sender = asyncio.ensure_future(other.next_batch())
        await asyncio.sleep(0)
        # The stalled player's sender took the first event and is stuck writing it; the
        # rest queue up to the bound, and one more closes it.
        hub.publish({"kind": "a"})
        assert len(await sender) == 1
        for _ in range(QUEUE_SIZE + 1):
            hub.publish({"kind": "a"})
        assert stalled.close_code == CLOSE_TOO_SLOW and closed == [1]
        assert len(other_writer.written) == QUEUE_SIZE + 2 and not other.events
        assert not other_sender.done()
        other_sender.cancel()

    asyncio.run(scenario())


def test_a_failing_write_falls_back_to_the_queue() -> None:
    async def scenario() -> None:
        hub = Hub()
        subscriber = hub.subscribe(1)

        def broken(text: str) -> bool:
            raise RuntimeError("transport gone")

        subscriber.write = broken
        sender = asyncio.ensure_future(subscriber.next_batch())
        await asyncio.sleep(0)
        seq = hub.publish({"kind": "a"})
        assert [_seq(t) for t in await sender] == [seq]

    asyncio.run(scenario())


class _Transport(asyncio.Transport):
    """A transport that keeps what is written; the test plays its buffer filling up."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


HANDSHAKE = (
    b"GET /player/ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def test_the_servers_direct_write_sends_what_send_does_and_declines_when_it_would_wait() -> None:
    async def scenario() -> None:
        accepted: asyncio.Future[tuple[Any, Send]] = asyncio.Future()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            accepted.set_result((scope["extensions"][SEND_NOWAIT]["send"], send))
            await receive()

        config = uvicorn.Config(app, lifespan="off", log_level="warning", **server_options())
        config.load()
        protocol = PlayerWebSocketProtocol(config, ServerState(), {})
        transport = _Transport()
        protocol.connection_made(transport)
        protocol.data_received(HANDSHAKE)
        send_nowait, send = await asyncio.wait_for(accepted, 5)
        assert transport.data.startswith(b"HTTP/1.1 101 ")

        text = json.dumps({"type": "event", "seq": 1, "event": {"pad": "é" * 200}})
        del transport.data[:]
        await send({"type": "websocket.send", "text": text})
        framed_by_send = bytes(transport.data)
        del transport.data[:]
        assert send_nowait(text) and send_nowait(text)  # the second from the cached frame
        assert bytes(transport.data) == framed_by_send * 2

        del transport.data[:]
        protocol.pause_writing()  # the player stopped reading: over the high-water mark
        assert not send_nowait(text) and transport.data == b""
        waiting = asyncio.ensure_future(send({"type": "websocket.send", "text": text}))
        await asyncio.sleep(0)
        assert not waiting.done()  # where the ordinary send waits, the direct write declines
        protocol.resume_writing()
        await waiting
        assert send_nowait(text)
        assert bytes(transport.data) == framed_by_send * 2

        await send({"type": "websocket.close", "code": CLOSE_TOO_SLOW})
        del transport.data[:]
        assert not send_nowait(text) and transport.data == b""
        protocol.connection_lost(None)
        assert not send_nowait(text)

    asyncio.run(scenario())


def test_a_state_message_is_written_at_once_to_an_idle_player_and_latest_wins_when_queued() -> None:
    async def scenario() -> None:
        hub = Hub()
        subscriber = hub.subscribe(1)
        writer = _Writer()
        subscriber.write = writer
        sender = asyncio.ensure_future(subscriber.next_batch())
        await asyncio.sleep(0)  # idle
        hub.push_state("queue", "board 1", [1])
        assert writer.written == ["board 1"] and not subscriber.state and not sender.done()

        writer.open = False  # backed up: the board waits in the state slot
        hub.push_state("queue", "board 2", [1])
        writer.open = True  # drained, but the sender has not caught up yet
        hub.push_state("queue", "board 3", [1])
        seq = hub.publish({"kind": "a"})
        assert writer.written == ["board 1"]  # nothing overtook what waits
        batch = await sender
        assert batch[0] == "board 3" and [_seq(t) for t in batch[1:]] == [seq]

    asyncio.run(scenario())
