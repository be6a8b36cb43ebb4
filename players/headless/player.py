"""The player: pairing, the socket of docs/protocol.md, manifests, events and the clock.

What the server sends is read into the types of content/protocol.py as it arrives
(`receive`); past that edge, messages are handled as those types."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import logging
import random
import secrets
import threading
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from content.protocol import (
    PROTOCOL,
    AlertInfo,
    BadMessage,
    Board,
    CallEvent,
    EventMessage,
    Hello,
    Manifest,
    PairRequest,
    PlayerMessage,
    ServerMessage,
    Welcome,
    event_place,
    read_server_message,
)
from players.headless import alerts
from players.headless.cache import (
    Cache,
    MediaError,
    fetch_fonts,
    fetch_media,
    manifest_languages,
)
from players.headless.frames import (
    Painter,
    Scene,
    board_view,
    describe,
    shows_board,
    zone_views,
)
from players.headless.outputs import FramebufferOutput, Output, PngOutput
from players.headless.text import Fonts, banner

log = logging.getLogger("players.headless")

VERSION = "1"
# Manifests carry a 48-hour timeline; the server's 64 KiB limit is for what players send.
MAX_INBOUND = 32 * 1024 * 1024
SEEN_EVENTS = 1000
STALE_CALL = timedelta(minutes=1)  # a call caught up later than this is not shown
ALERT_CONFIRM = 5.0  # seconds after a welcome: kept alerts the server did not send are gone


def request_code(server: str, token: str, timeout: float = 15.0) -> str:
    """POST /player/pair: the code staff enter to pair this token to a screen."""
    pair: PairRequest = {"token": token}
    request = urllib.request.Request(  # noqa: S310
        f"{server}/player/pair",
        data=json.dumps(pair).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body = json.loads(response.read(64 * 1024))
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str):
        raise ValueError("the server sent no pairing code")
    return code


def upload_screenshot(server: str, token: str, png: bytes, timeout: float = 15.0) -> None:
    request = urllib.request.Request(  # noqa: S310
        f"{server}/player/screenshot",
        data=png,
        headers={"Content-Type": "image/png", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
        pass


@dataclass(frozen=True)
class Options:
    server: str  # http(s)://host:port of the CMS
    cache: Path
    token: str | None = None
    output: Path | None = None  # default: <cache>/frame.png
    framebuffer: Path | None = None
    size: tuple[int, int] = (1280, 720)
    backoff_cap: float = 60.0  # seconds: the longest wait between reconnects
    restart_delay: float = 10.0  # seconds: the longest wait after the server restarts (1012)

    def __post_init__(self) -> None:
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the server must be an http:// or https:// address: {self.server}")
        object.__setattr__(self, "server", self.server.rstrip("/"))
        if self.size[0] < 16 or self.size[1] < 16:
            raise ValueError(f"the frame size is too small: {self.size}")

    @property
    def socket_url(self) -> str:
        return "ws" + self.server.removeprefix("http") + "/player/ws"


class Player:
    """One screen: pairs, follows the server's manifests and events, draws frames."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.cache = Cache(options.cache)
        self.painter = self._painter()
        self.output: Output = (
            FramebufferOutput(options.framebuffer)
            if options.framebuffer
            else PngOutput(options.output or options.cache / "frame.png")
        )
        if options.token and options.token != self.cache.token():
            self.cache.forget()  # another device identity: what was cached is not its own
            self.cache.keep_token(options.token)
        self.token = self.cache.token()
        stored = self.cache.manifest() if self.token else None
        self.manifest: Manifest | None = None
        self.manifest_version = 0
        if stored is not None:
            self.manifest_version, self.manifest = stored
        self.epoch, self.seq = self.cache.events()
        self.pairing_code: str | None = None
        self.screen_name = self.manifest["screen"]["name"] if self.manifest else ""
        self.online = False
        self.playing: dict[str, str] = {}
        self.frame: Image.Image | None = None
        self.frames_written = 0
        self._seen: dict[str, None] = {}
        self._pending: tuple[int, Manifest] | None = None
        self._identify_until = 0.0
        self.board: Board | None = None
        # The newest call: (text "A-023 → 3", its time, shown until (monotonic)).
        self._call: tuple[str, str, float] | None = None
        self._generation = 0
        self._scene: Scene | None = None
        # The server's clock minus this one's, measured at each welcome and kept, so alerts
        # expire by the server's clock also after a restart while the server is away.
        self._offset = timedelta(seconds=self.cache.offset())
        self.alerts: list[alerts.Alert] = alerts.parse(self.cache.alerts())
        # The revision of that list: an `alerts` message older than it is ignored (another
        # process may send a list it read before the one this player has).
        self.alerts_revision = self.cache.alerts_revision()
        self._alerts_key: alerts.AlertsKey = ()
        self._alerts_since = time.monotonic()
        self._acked: tuple[str, ...] | None = None  # what this connection was told shows
        self._confirm: asyncio.TimerHandle | None = None  # drops kept alerts not sent again
        self._heartbeat = 30.0
        self._attempt = 0
        self._socket: ClientConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._render_now = asyncio.Event()
        self._fetch_now = asyncio.Event()
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _painter(self) -> Painter:
        fonts = Fonts(folder=self.cache.fonts, index=self.cache.font_index())
        return Painter(self.options.size, self.cache.media, fonts)

    # -- running

    async def run(self) -> None:
        """Play until stop() (or request_stop() from the loop)."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._render_now, self._fetch_now = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(self._render_loop()),
            asyncio.create_task(self._connect_loop()),
            asyncio.create_task(self._fetch_loop()),
        ]
        self._running.set()
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._running.clear()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def start(self) -> None:
        """Run the player in a background thread."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.run()), name="headless-player", daemon=True
        )
        self._thread.start()
        if not self._running.wait(10):
            raise RuntimeError("the player did not start")

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._running.is_set():
            self._loop.call_soon_threadsafe(self.request_stop)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def now(self) -> datetime:
        """The server's time, as measured at the last welcome (own clock when offline)."""
        return datetime.now(UTC) + self._offset

    # -- frames

    @property
    def identifying(self) -> str | None:
        """The screen name while an `identify` command shows it, else None."""
        if self._identify_until <= time.monotonic():
            return None
        return self.screen_name or (self.manifest["screen"]["name"] if self.manifest else "")

    @property
    def calling(self) -> str | None:
        """The newest queue call while it is highlighted ("A-023 → 3"), else None."""
        if self._call is not None and self._call[2] <= time.monotonic():
            self._call = None
        return self._call[0] if self._call else None

    def alert_views(self, at: datetime) -> tuple[alerts.AlertView | None, alerts.AlertView | None]:
        """(takeover, banner) shown at `at`: each language in turn from when this set of
        alerts first showed."""
        key = alerts.key(self.alerts, at)
        if key != self._alerts_key:
            self._alerts_key, self._alerts_since = key, time.monotonic()
        timezone = self.manifest["site"]["timezone"] if self.manifest else "UTC"
        return alerts.views(self.alerts, at, time.monotonic() - self._alerts_since, timezone)

    def scene(self, at: datetime) -> Scene:
        takeover, banner = self.alert_views(at)
        scene = self._scene_under(at, banner is not None)
        return replace(scene, alert=takeover, banner=banner)

    def _scene_under(self, at: datetime, banner: bool) -> Scene:
        identify = self.identifying
        if self.manifest:
            counter = self.manifest["queue"]["counter"]
            views = self.painter.paged(zone_views(self.manifest, at), self.manifest, banner)
            calling = self.calling
            newest = (calling, self._call[1]) if calling and self._call else None
            board = board_view(self.board, counter, newest) if self.board else None
            return Scene(
                self.manifest_version,
                views,
                identify=identify,
                generation=self._generation,
                # A board in view highlights the call itself; other screens show it over all.
                call=None if board is not None and shows_board(views) else calling,
                board=board,
                manifest=self.manifest,
            )
        status = "接続しています… / Connecting…" if not self.screen_name else self.screen_name
        return Scene(0, code=self.pairing_code, identify=identify, status=status)

    def render(self, at: datetime | None = None) -> bool:
        """Draw and write the frame for `at` (now) if it differs from the last; True if so."""
        scene = self.scene(at or self.now())
        playing = {
            view.zone["name"]: describe(view, scene.manifest, scene.board) for view in scene.zones
        }
        if scene == self._scene:
            self.playing = playing
            self._ack_alerts(scene)  # drawn already; a new connection is told again
            return False
        self.frame = self.painter.paint(scene)
        self.output.write(self.frame)
        self._scene = scene
        self.frames_written += 1
        self.playing = playing  # set once the frame is out: it says what is on screen
        self._ack_alerts(scene)
        return True

    def _ack_alerts(self, scene: Scene) -> None:
        """Tell the server every alert this screen shows whenever that changes (an empty
        list once they are gone)."""
        shown = scene.alert or scene.banner
        ids = tuple(sorted(shown.ids)) if shown else ()
        if self._socket is None or self._loop is None:
            return
        if ids == self._acked or (self._acked is None and not ids):
            return
        self._acked = ids
        self._background(self._send({"type": "alert_ack", "ids": list(ids)}))

    def changed(self) -> None:
        self._render_now.set()

    async def _render_loop(self) -> None:
        while True:
            self._render_now.clear()
            try:
                self.render()
            except Exception:
                log.exception("drawing the frame failed")
            wait = 1.0 - self.now().microsecond / 1_000_000 + 0.01
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._render_now.wait(), wait)

    # -- manifests

    async def offer_manifest(self, version: int, manifest: Manifest) -> bool:
        """Fetch a manifest's files and make it the one that plays. False if a file cannot
        be fetched or does not match: then the current manifest keeps playing."""
        token = self.token
        try:
            zone_views(manifest, self.now())  # refuse what cannot be played
            names = await asyncio.to_thread(
                fetch_media, self.options.server, self.cache.media, manifest["media"]
            )
            fonts = await asyncio.to_thread(
                fetch_fonts, self.options.server, self.cache.fonts, manifest_languages(manifest)
            )
        except MediaError as error:
            log.warning("manifest %s not activated: %s", version, error)
            return False
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            log.warning("manifest %s not activated: malformed (%s)", version, error)
            return False
        if self.token != token:
            return False  # the screen was revoked while its files were being fetched
        self.cache.keep_manifest(version, manifest)
        self.manifest_version, self.manifest = version, manifest
        if fonts != self.painter.fonts.index:
            self.painter = Painter(
                self.options.size, self.cache.media, Fonts(folder=self.cache.fonts, index=fonts)
            )
        self._generation += 1
        self.screen_name = manifest["screen"]["name"] or self.screen_name
        self.cache.prune_media(set(names))
        log.info("playing manifest %s", version)
        self.changed()
        return True

    async def _fetch_loop(self) -> None:
        failures = 0
        while True:
            await self._fetch_now.wait()
            self._fetch_now.clear()
            pending = self._pending
            if pending is None:
                continue
            if await self.offer_manifest(*pending):
                failures = 0
                if self._pending is pending:
                    self._pending = None
                await self._send({"type": "ack", "manifest_version": pending[0]})
                continue
            failures += 1
            # Retry later (sooner when a newer manifest arrives).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fetch_now.wait(), self._backoff(failures))
            self._fetch_now.set()

    # -- the socket

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to min(cap, 1 s × 2^attempt)."""
        return random.uniform(0, min(self.options.backoff_cap, 2.0**attempt))  # noqa: S311

    async def _connect_loop(self) -> None:
        while True:
            if self.token is None:
                try:
                    await self._pair()
                except (OSError, ValueError, http.client.HTTPException) as error:
                    log.warning("cannot ask for a pairing code: %s", error)
                    await asyncio.sleep(self._backoff(self._attempt))
                    self._attempt += 1
                    continue
            code = await self._session()
            if code == 4003:
                log.error("the server refused this player (4003); not retrying")
                return
            if code in (4001, 4002):
                log.warning("the server does not know this screen (%s): pairing again", code)
                self._forget()
                await asyncio.sleep(self._backoff(self._attempt))
                self._attempt += 1
                continue
            if code == 1012:
                delay = random.uniform(0, self.options.restart_delay)  # noqa: S311
            else:
                delay = self._backoff(self._attempt)
                self._attempt += 1
            log.info("disconnected (%s); reconnecting in %.1f s", code, delay)
            await asyncio.sleep(delay)

    async def _pair(self) -> None:
        token = secrets.token_urlsafe(24)
        self.cache.keep_token(token)
        self.token = token
        try:
            code = await asyncio.to_thread(request_code, self.options.server, token)
        except BaseException:
            self.token = None  # ask again with a new token
            raise
        self._show_code(code)

    def _show_code(self, code: str) -> None:
        if code != self.pairing_code:
            self.pairing_code = code
            print(f"Pairing code: {code}\n\n{banner(code, self.painter.fonts)}\n", flush=True)
            print("Enter it in the CMS: Fleet → Pair a screen.", flush=True)
            self.changed()

    def _forget(self) -> None:
        self.cache.forget()
        self.token, self.manifest, self.manifest_version = None, None, 0
        self.epoch, self.seq, self.pairing_code, self.screen_name = None, 0, None, ""
        self._pending = None
        self.alerts, self.alerts_revision = [], 0
        self.changed()

    async def _session(self) -> int | None:
        """One connection, from hello to close; the close code (None: never connected)."""
        try:
            async with connect(
                self.options.socket_url,
                open_timeout=10,
                close_timeout=5,
                max_size=MAX_INBOUND,
                user_agent_header=f"signage-headless/{VERSION}",
            ) as socket:
                self._socket = socket
                beating: asyncio.Task[None] | None = None
                try:
                    await socket.send(json.dumps(self._hello()))
                    async for raw in socket:
                        message = self.receive(raw)
                        welcome = message is not None and message["type"] == "welcome"
                        if welcome and beating is None:
                            beating = asyncio.create_task(self._heartbeats())
                except ConnectionClosed:
                    pass
                finally:
                    self._socket = None
                    self.online = False
                    if beating is not None:
                        beating.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await beating
            return socket.close_code
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            log.info("cannot connect to %s: %s", self.options.socket_url, error)
            return None

    def _hello(self) -> Hello:
        return {
            "type": "hello",
            "token": self.token or "",
            "protocol": PROTOCOL,
            "epoch": self.epoch,
            "seq": self.seq,
            "manifest_version": self.manifest_version,
            "player": {"kind": "headless", "version": VERSION},
        }

    async def _send(self, message: PlayerMessage) -> None:
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(ConnectionClosed):
                await socket.send(json.dumps(message, ensure_ascii=False))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            await self._send(
                {
                    "type": "heartbeat",
                    "manifest_version": self.manifest_version,
                    "playing": self.playing,
                    "seq": self.seq,
                }
            )

    def receive(self, raw: str | bytes) -> ServerMessage | None:
        """The edge: one frame from the server, read into the protocol's types and acted
        on; None (and nothing done) for one that is malformed or of a type this player
        does not know."""
        try:
            message = json.loads(raw)
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise BadMessage("not a message")
            typed = read_server_message(message)
        except (ValueError, RecursionError) as error:  # BadMessage is a ValueError
            log.warning("ignoring a malformed message: %s", error)
            return None
        if typed is None:
            if message["type"] == "event":  # of a kind this player does not act on
                self._place(*event_place(message))
            return None
        try:
            self.handle(typed)
        except Exception:
            log.exception("cannot handle a %r message", typed["type"])
        return typed

    def handle(self, message: ServerMessage) -> None:
        """Act on one message from the server (docs/protocol.md)."""
        if message["type"] == "pairing":
            self._attempt = 0
            self._show_code(message["code"])
        elif message["type"] == "paired":
            self.pairing_code = None
            self.screen_name = message["screen"]["name"]
            log.info("paired as %s", self.screen_name)
            self.changed()
        elif message["type"] == "welcome":
            self._welcome(message)
        elif message["type"] == "manifest":
            version, manifest = message["version"], message["manifest"]
            if version == self.manifest_version and self.manifest:
                self._pending = None
                self._background(self._send({"type": "ack", "manifest_version": version}))
            else:
                self._pending = (version, manifest)
                self._fetch_now.set()
        elif message["type"] == "event":
            self._event(message)
        elif message["type"] == "queue":
            self.board = message["board"]
            self.changed()
        elif message["type"] == "alerts":
            self._receive_alerts(message["alerts"], message["revision"])

    def _receive_alerts(self, items: list[AlertInfo], revision: int) -> None:
        """The whole list (latest wins; empty clears): kept, so it shows until each alert's
        expiry also while the server is away, and drawn at once. A list older than the
        one this player has (a lower `revision`) is ignored."""
        if self._confirm is not None:
            self._confirm.cancel()
            self._confirm = None
        if revision < self.alerts_revision:
            log.info("ignoring an alerts list older than the one shown (%d)", revision)
            return
        self.alerts_revision = revision
        self.alerts = alerts.parse(items)
        self.cache.keep_alerts(items, revision)
        if self._loop is not None:
            now = self.now()
            for alert in self.alerts:
                left = (alert.expires_at - now).total_seconds()
                if left > 0:  # gone at its expiry, not at a later tick
                    self._loop.call_later(left + 0.01, self.changed)
        self.changed()

    def _drop_kept_alerts(self) -> None:
        self._receive_alerts([], self.alerts_revision)

    def _welcome(self, message: Welcome) -> None:
        self.online, self._attempt, self.pairing_code = True, 0, None
        with contextlib.suppress(TypeError, ValueError):
            self._offset = datetime.fromisoformat(message["server_time"]) - datetime.now(UTC)
            self.cache.keep_offset(self._offset.total_seconds())
        self._acked = None  # this connection has not been told what shows yet
        # The server sends the alerts right after the welcome (an empty list too): kept ones
        # it does not send again were cleared while this player was away. A server that
        # sends nothing within ALERT_CONFIRM seconds is taken to show none.
        if self._confirm is not None:
            self._confirm.cancel()
        if self._loop is not None and self.alerts:
            self._confirm = self._loop.call_later(ALERT_CONFIRM, self._drop_kept_alerts)
        self._heartbeat = float(message["heartbeat"])
        self.screen_name = message["screen"]["name"] or self.screen_name
        epoch = message["epoch"] or None
        if epoch != self.epoch:
            # The server restarted: its events are numbered afresh, nothing old is replayed.
            self._seen.clear()
            self.epoch = epoch
            self.seq = message["seq"]
            self.cache.keep_events(self.epoch, self.seq)
        self.changed()

    def _place(self, seq: int, event_id: str) -> bool:
        """Keep the highest `seq` seen; False for an event applied before (by `id`)."""
        if seq > self.seq:
            self.seq = seq
            self.cache.keep_events(self.epoch, self.seq)
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > SEEN_EVENTS:
            del self._seen[next(iter(self._seen))]
        return True

    def _event(self, message: EventMessage) -> None:
        if not self._place(message["seq"], message["id"]):
            return
        event = message["event"]
        log.info("event %s", event["kind"])
        if event["kind"] == "identify":
            seconds = event["seconds"]
            if seconds != seconds:  # NaN
                seconds = 10.0
            seconds = min(max(seconds, 1.0), 300.0)
            self._identify_until = time.monotonic() + seconds
            self.changed()
            if self._loop is not None:
                self._loop.call_later(seconds + 0.05, self.changed)
        elif event["kind"] == "reload":
            self.painter = self._painter()
            self._generation += 1
            self._scene = None
            self.changed()
        elif event["kind"] == "screenshot":
            self._background(self._screenshot())
        elif event["kind"] == "queue.call":
            self._queue_call(event)

    def _queue_call(self, event: CallEvent) -> None:
        """Show the newest call at once, for its highlight time; a newer call replaces it
        (the board lists the others). A screen above a counter shows only its calls."""
        counter = self.manifest["queue"]["counter"] if self.manifest else None
        if counter is not None and event["counter_id"] != counter["id"]:
            return
        at = event["at"]
        try:
            when = datetime.fromisoformat(at)
            if self.now() - when > STALE_CALL:
                return
            if self._call is not None and when < datetime.fromisoformat(self._call[1]):
                return  # an older call arriving late: the newest stays
        except (TypeError, ValueError):
            pass
        seconds = event["highlight_seconds"]
        if not 1 <= seconds <= 120:
            seconds = 10
        text = f"{event['label']} → {event['counter']}"
        self._call = (text, at, time.monotonic() + float(seconds))
        if self._loop is not None:
            self._loop.call_later(float(seconds) + 0.05, self.changed)
        self.changed()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _screenshot(self) -> None:
        frame, token = self.frame, self.token
        if frame is None or token is None:
            return
        buffer = io.BytesIO()
        frame.save(buffer, "PNG")
        try:
            await asyncio.to_thread(
                upload_screenshot, self.options.server, token, buffer.getvalue()
            )
        except (OSError, ValueError, http.client.HTTPException) as error:
            log.info("screenshot not uploaded: %s", error)
