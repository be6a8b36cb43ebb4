"""The player websocket (docs/protocol.md): hello, pairing, catch-up, then a sender task
fed by the hub and a receiver loop for heartbeats and acknowledgements.

This is on the hot path of every push: it is a plain ASGI endpoint that writes frames with
the server's `send` directly, keeps two tasks per player, and keeps no ORM objects alive.
Under `signage serve` the server is uvicorn with `PlayerWebSocketProtocol`, which also
offers a synchronous write (`SEND_NOWAIT`): the hub uses it for players whose sender is
idle, so one event to every screen is written in one pass without waking a task per
screen (signage/live/hub.py). Without that extension (another server, the test client) every
message goes through the sender task.
What players report (last seen, player kind, acknowledged manifest) is written to the
database in batches by `SeenWriter`, never on each message.

Messages are the types of content/protocol.py: what a player sends is read into them as it
arrives (`_parse`, then `read_hello` or the reader of each handler in `HANDLERS`), what is
sent is built as them and encoded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol, TypedDict, Unpack, cast
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from content.protocol import (
    BadMessage,
    Hello,
    Json,
    read_ack,
    read_alert_ack,
    read_heartbeat,
    read_hello,
)
from signage.db import first_line, transaction, unreachable, utcnow
from signage.live import pairing
from signage.live.hub import (
    CLOSE_FOREIGN_ORIGIN,
    CLOSE_MALFORMED,
    CLOSE_NO_HELLO,
    CLOSE_PROTOCOL,
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
SEEN_FLUSH_SECONDS = 5.0


# ASGI extension (scope["extensions"]) offered by PlayerWebSocketProtocol: {"send": f},
# where f(text) writes one text message now and returns True, or returns False and writes
# nothing when the connection cannot take it without waiting.
SEND_NOWAIT = "signage.websocket.send_nowait"


class PlayerWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol (the one it picks by default) plus `SEND_NOWAIT`.

    The write is for the case where the ordinary ASGI `send` would not wait anyway: the
    connection is open and its transport is below its high-water mark. It declines
    otherwise, and the caller falls back to `send`, which waits for the transport to
    drain. The frame of the last message is kept, so an event written to every screen is
    framed once (server frames are not masked; compression is off in `signage serve`,
    and a connection that negotiated it is declined rather than sent a wrong frame).
    """

    _last_frame: ClassVar[tuple[str, bytes]] = ("", b"")

    async def run_asgi(self) -> None:
        self.scope.setdefault("extensions", {})[SEND_NOWAIT] = {"send": self.send_nowait}
        await super().run_asgi()

    def send_nowait(self, text: str) -> bool:
        if (
            not self.writable.is_set()  # paused: the transport is over its high-water mark
            or self.close_sent
            or self.disconnected
            or self.conn.state is not State.OPEN
            or self.conn.extensions
            or self.transport.is_closing()
        ):
            return False
        last = PlayerWebSocketProtocol._last_frame
        if last[0] is text:
            frame = last[1]
        else:
            frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
            PlayerWebSocketProtocol._last_frame = (text, frame)
        self.transport.write(frame)
        return True


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Disconnected(Exception):
    """The player went away."""


class Boards(Protocol):
    """Where the socket gets a site's queue board (signage/queue/announcer.py)."""

    async def board_message(self, site_id: int) -> str | None: ...


class PlayerState(Protocol):
    """What the player socket uses of the app's state (set up in signage/app.py)."""

    hub: Hub
    readonly_db: async_sessionmaker[AsyncSession]
    announcer: Boards
    seen: SeenWriter


class PlayerApp(Protocol):
    """The ASGI app the socket runs in (`scope["app"]`)."""

    @property
    def state(self) -> PlayerState: ...


@dataclass(frozen=True)
class _Screen:
    id: int
    name: str
    site_id: int


def _parse(raw: str) -> Json:
    """A message as JSON: an object with a string `type` (else 4000); its fields are read
    into the protocol's types by whoever handles its type."""
    if len(raw) > MAX_MESSAGE:
        raise Closed(1009)
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep
        raise Closed(CLOSE_MALFORMED) from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise Closed(CLOSE_MALFORMED)
    return message


class Seen(TypedDict, total=False):
    """What `SeenWriter` writes to a screen's row (columns of `Screen`)."""

    last_seen_at: datetime
    player_kind: str
    player_version: str
    manifest_ack: int


class SeenWriter:
    """Collects what players report and writes it every few seconds in one transaction, so
    a thousand screens reconnecting at once cost a handful of writes, not a thousand."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.pending: dict[int, Seen] = {}
        self.failing = False  # the last write failed; logged once until one succeeds

    def note(self, screen_id: int, **fields: Unpack[Seen]) -> None:
        seen = self.pending.setdefault(screen_id, {})
        seen.update(fields)
        seen["last_seen_at"] = utcnow()

    async def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, {}
        # One statement per set of fields, run for all its screens at once: on SQLite the
        # transaction holds the only write lock, and a counter's call waits behind it.
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for screen_id, fields in batch.items():
            row = {"screen": screen_id} | {f"new_{k}": v for k, v in fields.items()}
            groups.setdefault(tuple(sorted(fields)), []).append(row)
        table = cast(sa.Table, Screen.__table__)
        try:
            async with transaction(self.sessions) as db:
                for keys, rows in groups.items():
                    statement = (
                        sa.update(table)
                        .where(table.c.id == sa.bindparam("screen"))
                        .values({k: sa.bindparam(f"new_{k}") for k in keys})
                    )
                    await db.execute(statement, rows)
        except sa.exc.SQLAlchemyError as exc:
            # Kept and written with the next batch: players play on meanwhile.
            for screen_id, fields in batch.items():
                self.pending[screen_id] = fields | self.pending.get(screen_id, {})
            if not unreachable(exc):
                log.exception("could not record player status; will retry")
            elif not self.failing:
                log.warning("cannot record player status, will retry: %s", first_line(exc))
            self.failing = True
            return
        if self.failing:
            log.info("player status recorded again")
        self.failing = False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SEEN_FLUSH_SECONDS)
            await self.flush()


async def warm_manifests(hub: Hub, readonly_db: async_sessionmaker[AsyncSession]) -> None:
    """Load every stored manifest into the hub's cache in one query, so the first
    reconnects after a start do not each read the database."""
    async with readonly_db() as db:
        rows = await db.execute(sa.select(Manifest.screen_id, Manifest.version, Manifest.body))
        for screen_id, version, body in rows:
            hub.set_manifest(screen_id, version, body, push=False)


class _Socket:
    """The little of a websocket this endpoint needs, straight on ASGI."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self.send_raw = send
        self.open = False

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", []):
            if key == name:
                return bytes(value).decode("latin-1")
        return None

    async def accept(self) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            raise Disconnected()
        await self.send_raw({"type": "websocket.accept"})
        self.open = True

    async def send(self, text: str) -> None:
        await self.send_raw({"type": "websocket.send", "text": text})

    async def receive(self) -> Json:
        message: Message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.open = False
            raise Disconnected()
        text = message.get("text")
        if text is None:
            raise Closed(CLOSE_MALFORMED)  # binary frames are not part of the protocol
        return _parse(text)

    async def close(self, code: int) -> None:
        if self.open:
            self.open = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send_raw({"type": "websocket.close", "code": code}), 2)


class PlayerSocket:
    """The ASGI endpoint (a class, so the router hands it the raw scope, receive, send)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        socket = _Socket(scope, receive, send)
        try:
            await socket.accept()
            await _serve(socket, scope["app"])
        except Closed as closed:
            await socket.close(closed.code)
        except (Disconnected, OSError):
            pass  # the player went away, or the connection broke while writing
        except Exception as exc:
            if isinstance(exc, sa.exc.SQLAlchemyError) and unreachable(exc):
                # The player retries later; one line, not a traceback per reconnect.
                log.warning("player socket: the database is unreachable: %s", first_line(exc))
            else:
                log.exception("player socket failed")
            await socket.close(1011)  # a proper close, never a dropped connection


player_socket = PlayerSocket()


async def _serve(socket: _Socket, app: PlayerApp) -> None:
    hub: Hub = app.state.hub
    origin = socket.header(b"origin")
    if origin and urlsplit(origin).netloc != socket.header(b"host"):
        raise Closed(CLOSE_FOREIGN_ORIGIN)
    try:
        message = await asyncio.wait_for(socket.receive(), HELLO_SECONDS)
    except TimeoutError:
        raise Closed(CLOSE_NO_HELLO) from None
    hello = _hello(message)
    digest = pairing.token_hash(hello["token"])
    screen = await _screen_for(app, digest)
    if screen is None:
        screen = await _wait_for_pairing(socket, app, hub, digest)
    subscriber = hub.subscribe(screen.id)
    try:
        await _start(socket, app, hub, screen, hello)
        await _run(socket, app, subscriber)
    finally:
        hub.unsubscribe(subscriber)


def _hello(message: Json) -> Hello:
    if message["type"] != "hello":
        raise Closed(CLOSE_MALFORMED)
    token = message.get("token")
    if not isinstance(token, str) or not pairing.valid_token(token):
        raise Closed(CLOSE_UNKNOWN_TOKEN)
    protocol = message.get("protocol")
    if type(protocol) is not int or protocol != PROTOCOL:
        raise Closed(CLOSE_PROTOCOL)
    return read_hello(message, token)


async def _screen_for(app: PlayerApp, digest: str) -> _Screen | None:
    async with app.state.readonly_db() as db:
        row = (
            await db.execute(
                sa.select(Screen.id, Screen.name, Screen.site_id).where(Screen.token_hash == digest)
            )
        ).first()
    return _Screen(row.id, row.name, row.site_id) if row else None


async def _wait_for_pairing(socket: _Socket, app: PlayerApp, hub: Hub, digest: str) -> _Screen:
    """Hold the socket of an unpaired player until staff enter its code."""
    async with app.state.readonly_db() as db:
        request = await pairing.open_request(db, digest)
    if request is None:
        raise Closed(CLOSE_UNKNOWN_TOKEN)
    paired = hub.wait_for_pairing(digest)
    try:
        await socket.send(encode({"type": "pairing", "code": request.code}))
        while not paired.is_set():
            receiving = asyncio.ensure_future(socket.receive())
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
    await socket.send(encode({"type": "paired", "screen": {"id": screen.id, "name": screen.name}}))
    return screen


async def _manifest(app: PlayerApp, hub: Hub, screen_id: int) -> tuple[int, str] | None:
    cached = hub.manifest(screen_id)
    if cached is None:
        async with app.state.readonly_db() as db:
            row = (
                await db.execute(
                    sa.select(Manifest.version, Manifest.body).where(
                        Manifest.screen_id == screen_id
                    )
                )
            ).first()
        if row is not None:
            hub.set_manifest(screen_id, row.version, row.body, push=False)
            cached = hub.manifest(screen_id)
    return cached


async def _start(socket: _Socket, app: PlayerApp, hub: Hub, screen: _Screen, hello: Hello) -> None:
    # Where this process's deliveries stand: events after it reach the subscriber, the ones
    # up to it come from `missed`.
    position = hub.seq
    await socket.send(
        encode(
            {
                "type": "welcome",
                "protocol": PROTOCOL,
                "screen": {"id": screen.id, "name": screen.name},
                "epoch": hub.epoch,
                "seq": position,
                "server_time": utcnow().isoformat(),
                "heartbeat": HEARTBEAT_SECONDS,
            }
        )
    )
    missed = await hub.missed(screen.id, hello["epoch"], hello["seq"], position)
    for text in missed or []:
        await socket.send(text)
    manifest = await _manifest(app, hub, screen.id)
    if manifest is not None and manifest[0] != hello["manifest_version"]:
        await socket.send(manifest[1])
    board = await app.state.announcer.board_message(screen.site_id)
    if board is not None:
        await socket.send(board)  # the site's queue board as it is now
    # The alerts it shows now, always (an empty list too: kept alerts that are not in it
    # were cleared while it was away), from the hub's memory, never a database read.
    await socket.send(hub.alerts(screen.id))
    kind, version = hello["player"]["kind"][:16], hello["player"]["version"][:32]
    app.state.seen.note(screen.id, player_kind=kind, player_version=version)
    hub.status[screen.id] = {
        "at": utcnow(),
        "playing": {},
        "manifest_version": 0,
        "kind": kind,
        "version": version,
    }


async def _run(socket: _Socket, app: PlayerApp, subscriber: Subscriber) -> None:
    nowait = (socket.scope.get("extensions") or {}).get(SEND_NOWAIT)
    if nowait is not None:
        subscriber.write = nowait["send"]
    sender = asyncio.ensure_future(_send_loop(socket, subscriber))
    receiver = asyncio.ensure_future(_receive_loop(socket, app, subscriber))
    # The hub closes a subscriber that fell behind, even while its send is stuck on a
    # player that stopped reading: cancelling the sender ends the connection.

    def stop_sending() -> None:
        sender.cancel()

    subscriber.on_close = stop_sending
    tasks = {sender, receiver}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        subscriber.on_close = None
        subscriber.write = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if subscriber.close_code is not None:
        raise Closed(subscriber.close_code)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _send_loop(socket: _Socket, subscriber: Subscriber) -> None:
    send = socket.send_raw
    while True:
        batch = await subscriber.next_batch()
        if subscriber.close_code is not None:
            return
        for text in batch:
            await send({"type": "websocket.send", "text": text})


def _on_heartbeat(message: Json, state: PlayerState, screen_id: int) -> None:
    heartbeat = read_heartbeat(message)
    hub = state.hub
    previous = hub.status.get(screen_id, {})
    hub.status[screen_id] = {
        **previous,
        "at": utcnow(),
        "playing": heartbeat["playing"],
        "manifest_version": heartbeat["manifest_version"],
    }
    state.seen.note(screen_id)


def _on_ack(message: Json, state: PlayerState, screen_id: int) -> None:
    version = read_ack(message)["manifest_version"]
    state.hub.status.setdefault(screen_id, {})["manifest_version"] = version
    state.seen.note(screen_id, manifest_ack=version)


def _on_alert_ack(message: Json, state: PlayerState, screen_id: int) -> None:
    """The alerts the player shows now (the fleet view reads them from the status)."""
    try:
        ids = read_alert_ack(message)["ids"]
    except BadMessage:
        raise Closed(CLOSE_MALFORMED) from None
    status = state.hub.status.setdefault(screen_id, {})
    status["alerts"] = ids
    status["alerts_at"] = utcnow().isoformat()


# What a player may send after its `hello`, by type; any other type closes with 4000.
HANDLERS: dict[str, Callable[[Json, PlayerState, int], None]] = {
    "heartbeat": _on_heartbeat,
    "ack": _on_ack,
    "alert_ack": _on_alert_ack,
}


async def _receive_loop(socket: _Socket, app: PlayerApp, subscriber: Subscriber) -> None:
    state, screen_id = app.state, subscriber.screen_id
    while True:
        message = await socket.receive()
        handler = HANDLERS.get(str(message["type"]))
        if handler is None:
            raise Closed(CLOSE_MALFORMED)
        handler(message, state, screen_id)
