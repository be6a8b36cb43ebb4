"""The player websocket (docs/protocol.md): hello, pairing, catch-up, then a sender task
fed by the hub and a receiver loop for heartbeats and acknowledgements."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from signage import pairing
from signage.db import transaction, utcnow
from signage.hub import (
    CLOSE_FOREIGN_ORIGIN,
    CLOSE_MALFORMED,
    CLOSE_NO_HELLO,
    CLOSE_UNKNOWN_TOKEN,
    Hub,
    Subscriber,
    encode,
)
from signage.models import Manifest, Screen

log = logging.getLogger("signage.players")
PROTOCOL = 1
HELLO_SECONDS = 10.0
HEARTBEAT_SECONDS = 30
MAX_MESSAGE = 64 * 1024
# last_seen_at is written at most this often per screen.
_SEEN_EVERY = timedelta(seconds=60)


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _parse(raw: str) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE:
        raise Closed(1009)
    try:
        message = json.loads(raw)
    except ValueError:
        raise Closed(CLOSE_MALFORMED) from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise Closed(CLOSE_MALFORMED)
    return message


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


async def _receive(websocket: WebSocket) -> dict[str, Any]:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise Closed(CLOSE_MALFORMED)  # binary frames are not part of the protocol
    return _parse(text)


async def player_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        await _serve(websocket)
    except Closed as closed:
        await _close(websocket, closed.code)
    except WebSocketDisconnect:
        pass


async def _close(websocket: WebSocket, code: int) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code), 2)


async def _serve(websocket: WebSocket) -> None:
    app = websocket.app
    hub: Hub = app.state.hub
    origin = websocket.headers.get("origin")
    if origin and urlsplit(origin).netloc != websocket.headers.get("host"):
        raise Closed(CLOSE_FOREIGN_ORIGIN)
    try:
        hello = await asyncio.wait_for(_receive(websocket), HELLO_SECONDS)
    except TimeoutError:
        raise Closed(CLOSE_NO_HELLO) from None
    if hello["type"] != "hello":
        raise Closed(CLOSE_MALFORMED)
    token = hello.get("token")
    if not pairing.valid_token(token):
        raise Closed(CLOSE_UNKNOWN_TOKEN)
    digest = pairing.token_hash(str(token))
    screen = await _screen_for(app, digest)
    if screen is None:
        screen = await _wait_for_pairing(websocket, app, hub, digest)
    subscriber = hub.subscribe(screen.id)
    try:
        await _start(websocket, app, hub, screen, hello)
        await _run(websocket, app, subscriber)
    finally:
        hub.unsubscribe(subscriber)


async def _screen_for(app: Any, digest: str) -> Screen | None:
    async with app.state.readonly_db() as db:
        screen: Screen | None = await db.scalar(
            sa.select(Screen).where(Screen.token_hash == digest)
        )
        return screen


async def _wait_for_pairing(websocket: WebSocket, app: Any, hub: Hub, digest: str) -> Screen:
    """Hold the socket of an unpaired player until staff enter its code."""
    async with app.state.readonly_db() as db:
        request = await pairing.open_request(db, digest)
    if request is None:
        raise Closed(CLOSE_UNKNOWN_TOKEN)
    paired = hub.wait_for_pairing(digest)
    try:
        await websocket.send_text(encode({"type": "pairing", "code": request.code}))
        while not paired.is_set():
            receiving = asyncio.ensure_future(_receive(websocket))
            waiting = asyncio.ensure_future(paired.wait())
            done, pending = await asyncio.wait(
                {receiving, waiting},
                timeout=request.expires_at.timestamp() - utcnow().timestamp(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in pending:
                task.cancel()
            if not done:
                raise Closed(CLOSE_UNKNOWN_TOKEN)  # the code expired
            if receiving in done:
                receiving.result()  # heartbeats while waiting are fine; errors close
    finally:
        hub.stop_waiting(digest, paired)
    screen = await _screen_for(app, digest)
    if screen is None:
        raise Closed(CLOSE_UNKNOWN_TOKEN)
    await websocket.send_text(
        encode({"type": "paired", "screen": {"id": screen.id, "name": screen.name}})
    )
    return screen


async def _manifest(app: Any, hub: Hub, screen_id: int) -> tuple[int, str] | None:
    cached = hub.manifest(screen_id)
    if cached is None:
        async with app.state.readonly_db() as db:
            row = await db.get(Manifest, screen_id)
        if row is not None:
            hub.set_manifest(screen_id, row.version, row.body, push=False)
            cached = hub.manifest(screen_id)
    return cached


async def _start(
    websocket: WebSocket, app: Any, hub: Hub, screen: Screen, hello: dict[str, Any]
) -> None:
    await websocket.send_text(
        encode(
            {
                "type": "welcome",
                "protocol": PROTOCOL,
                "screen": {"id": screen.id, "name": screen.name},
                "epoch": hub.epoch,
                "seq": hub.seq,
                "server_time": utcnow().isoformat(),
                "heartbeat": HEARTBEAT_SECONDS,
            }
        )
    )
    epoch = hello.get("epoch")
    for text in (
        hub.missed(screen.id, epoch if isinstance(epoch, str) else None, _number(hello.get("seq")))
        or []
    ):
        await websocket.send_text(text)
    manifest = await _manifest(app, hub, screen.id)
    if manifest is not None and manifest[0] != _number(hello.get("manifest_version")):
        await websocket.send_text(manifest[1])
    player = hello.get("player")
    if not isinstance(player, dict):
        player = {}
    await _seen(
        app,
        screen.id,
        force=True,
        kind=str(player.get("kind", ""))[:16],
        version=str(player.get("version", ""))[:32],
    )
    hub.status[screen.id] = {
        "at": utcnow(),
        "playing": {},
        "manifest_version": 0,
        "written": utcnow(),
    }


async def _seen(
    app: Any, screen_id: int, *, force: bool = False, ack: int | None = None, **player: str
) -> None:
    now = utcnow()
    async with transaction(app.state.db) as db:
        screen = await db.get(Screen, screen_id)
        if screen is None:
            return
        if force or screen.last_seen_at is None or now - screen.last_seen_at > _SEEN_EVERY:
            screen.last_seen_at = now
        if player.get("kind"):
            screen.player_kind, screen.player_version = player["kind"], player.get("version", "")
        if ack is not None:
            screen.manifest_ack = ack


async def _run(websocket: WebSocket, app: Any, subscriber: Subscriber) -> None:
    sender = asyncio.ensure_future(_send_loop(websocket, subscriber))
    receiver = asyncio.ensure_future(_receive_loop(websocket, app, subscriber))
    # The hub closes a subscriber that fell behind even while its send is stuck on a
    # player that stopped reading.
    closer = asyncio.ensure_future(subscriber.closed.wait())
    tasks = {sender, receiver, closer}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    for task in done:
        error = task.exception()
        if error is not None:
            raise error
    if subscriber.close_code is not None:
        raise Closed(subscriber.close_code)


async def _send_loop(websocket: WebSocket, subscriber: Subscriber) -> None:
    while True:
        batch = await subscriber.next_batch()
        if subscriber.close_code is not None:
            return
        for text in batch:
            await websocket.send_text(text)


async def _receive_loop(websocket: WebSocket, app: Any, subscriber: Subscriber) -> None:
    hub: Hub = app.state.hub
    while True:
        message = await _receive(websocket)
        kind = message["type"]
        if kind == "heartbeat":
            playing = message.get("playing")
            now = utcnow()
            previous = hub.status.get(subscriber.screen_id, {})
            written = previous.get("written", now)
            hub.status[subscriber.screen_id] = {
                "at": now,
                "playing": {
                    str(zone)[:32]: str(what)[:200] for zone, what in list(playing.items())[:8]
                }
                if isinstance(playing, dict)
                else {},
                "manifest_version": _number(message.get("manifest_version")),
                "written": written,
            }
            # The database hears of a heartbeat at most once a minute per screen; the fleet
            # view reads the hub for anything fresher.
            if now - written > _SEEN_EVERY:
                hub.status[subscriber.screen_id]["written"] = now
                await _seen(app, subscriber.screen_id)
        elif kind == "ack":
            await _seen(app, subscriber.screen_id, ack=_number(message.get("manifest_version")))
        else:
            raise Closed(CLOSE_MALFORMED)
