"""The push hub: publishing code hands it messages; it knows nothing about sockets.

Each connected player has a `Subscriber` with a bounded queue of events and a slot for the
latest manifest (state is latest-wins: a newer manifest replaces one not yet sent). A
player whose queue overflows is marked too slow; its socket is closed (4004) and it resyncs
on reconnect, so one stalled screen never slows down the others.

Fast path: while a player's sender is idle (nothing queued, waiting for work), an event is
handed to the subscriber's `write` callable, which the socket sets to write a frame at
once when the connection can take it without waiting. One event to every screen then
costs one synchronous write per screen and no task wake-ups; so does a state message (a
queue board, after every call). When `write` declines (the player's transport is backed
up, or the connection is closing), the message goes to the queue as before, and so does
every one after it until the sender has caught up, so order is kept and a stalled player
still ends in 4004.

Events carry one sequence number per `epoch`; the last `BUFFER` events are kept so a
reconnecting player can be sent what it missed.

`Hub` is the front every caller uses. It keeps this process's subscribers (and the fast
path); what must reach every process goes through a backend chosen by `SIGNAGE_HUB_URL`:
- `memory://` (one process): no backend; the front delivers at once, numbers events
  itself (a new epoch per start) and keeps the buffer, the manifests and the boards.
- `redis://`: `signage/live/redis_hub.py`. Publishing hands the message to the backend
  (never waits for Redis); the backend's reader delivers every message, including this
  process's own, through the `deliver_*`/`apply_*` methods below, in one order.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from content.protocol import Event, Manifest, ServerMessage
from signage.live.fleet import PlayerStatus
from signage.metrics import PUSH_LATENCY

log = logging.getLogger("signage.live.hub")

BUFFER = 1000
QUEUE_SIZE = 256

CLOSE_MALFORMED = 4000
CLOSE_UNKNOWN_TOKEN = 4001
CLOSE_REVOKED = 4002
CLOSE_FOREIGN_ORIGIN = 4003
CLOSE_TOO_SLOW = 4004
CLOSE_REPLACED = 4005
CLOSE_PROTOCOL = 4006
CLOSE_NO_HELLO = 4008
CLOSE_RESTART = 1012


def encode(message: ServerMessage | Event) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Subscriber:
    """One connected player, as the hub sees it.

    Kept small and cheap to wake: a deque of encoded events, the latest state messages,
    and one future that exists only while the player's sender is waiting.
    """

    __slots__ = (
        "_waiter",
        "announced",
        "close_code",
        "events",
        "on_close",
        "screen_id",
        "serial",
        "state",
        "write",
    )

    def __init__(self, screen_id: int, serial: int = 0) -> None:
        self.screen_id = screen_id
        # Across processes: which subscription this is, and whether the backend has seen
        # its own announcement yet (only announced subscribers are replaced by a later one).
        self.serial = serial
        self.announced = False
        self.events: deque[str] = deque()
        self.state: dict[str, str] = {}
        self.close_code: int | None = None
        # Called once when the hub closes this subscriber, even while its sender is stuck
        # writing to a player that stopped reading.
        self.on_close: Callable[[], None] | None = None
        # Set by the socket: writes one message now and returns True, or returns False
        # (and writes nothing) when that would mean waiting. Used only while the sender
        # is idle, so it never overtakes queued messages.
        self.write: Callable[[str], bool] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _write_now(self, text: str) -> bool:
        waiter = self._waiter
        # An undone waiter means the sender is idle: nothing is queued (anything queued
        # or a close would have completed it), so writing now keeps the order.
        if waiter is not None and self.write is not None and not waiter.done():
            try:
                return self.write(text)
            except Exception:
                # Queue it instead: the sender meets the failure on its own path and ends
                # this connection; publishing goes on for everyone else.
                log.exception("direct write to a player failed")
        return False

    def offer(self, text: str) -> None:
        if self._write_now(text):
            return
        if len(self.events) >= QUEUE_SIZE:
            self.close(CLOSE_TOO_SLOW)
            return
        self.events.append(text)
        self._wake()

    def set_state(self, key: str, text: str) -> None:
        # Written at once like an event when the sender is idle (a queue board goes to
        # every screen of a site after each call: no task wake-up per screen).
        if self._write_now(text):
            return
        self.state[key] = text
        self._wake()

    def close(self, code: int) -> None:
        if self.close_code is not None:
            return
        self.close_code = code
        self._wake()
        if self.on_close is not None:
            self.on_close()

    async def next_batch(self) -> list[str]:
        """Wait for something to send: state first (latest wins), then queued events.
        Empty once the subscriber is closed."""
        while True:
            if self.close_code is not None:
                return []
            if self.state or self.events:
                batch = list(self.state.values())
                self.state.clear()
                batch.extend(self.events)
                self.events.clear()
                return batch
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


# What a backend carries between processes besides events (a manifest, a board, a pairing,
# a disconnect...): JSON fields.
Control = Mapping[str, int | str | list[int]]


class Backend(Protocol):
    """What carries messages between processes (signage/live/redis_hub.py)."""

    async def start(self, hub: Hub) -> None: ...

    async def stop(self) -> None: ...

    def publish(
        self, event_json: str, event_id: str, targets: frozenset[int] | None, at: float
    ) -> None: ...

    async def missed(
        self, screen_id: int, epoch: str | None, seq: int, upto: int
    ) -> list[str] | None: ...

    def send(self, kind: str, fields: Control) -> None: ...

    async def fleet(self, screen_ids: Iterable[int]) -> dict[int, PlayerStatus]: ...

    async def reachable(self) -> str | None: ...


def event_text(seq: int, event_id: str, event_json: str) -> str:
    """The `event` message, as `encode` would write it, from an event already encoded."""
    return f'{{"type":"event","seq":{seq},"id":{json.dumps(event_id)},"event":{event_json}}}'


class Hub:
    def __init__(self, backend: Backend | None = None) -> None:
        self.backend = backend
        # Memory: a new epoch per start. Redis: the backend sets both to what this process
        # has delivered (the welcome's position).
        self.epoch = secrets.token_hex(8)
        self.seq = 0
        self._seq = itertools.count(1)
        self._buffer: deque[tuple[int, frozenset[int] | None, str]] = deque(maxlen=BUFFER)
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._serials = itertools.count(1)
        self._pairing: dict[str, set[asyncio.Event]] = {}
        # screen id -> (manifest version, encoded `manifest` message)
        self._manifests: dict[int, tuple[int, str]] = {}
        # site id -> encoded `queue` message (the latest board)
        self._boards: dict[int, str] = {}
        # screen id -> (revision, encoded `alerts` message): what each screen shows now.
        # A screen not in it shows no alert as of `_alerts_floor` (the revision of the
        # last full read, at start); `alerts_revision` is the newest revision seen here.
        self._alerts: dict[int, tuple[int, str]] = {}
        self._alerts_floor = 0
        self.alerts_revision = 0
        # screen id -> what its player last said here: {"at", "playing", "manifest_version",
        # "kind", "version"}; the backend shares it with the other processes.
        self.status: dict[int, PlayerStatus] = {}

    async def start(self) -> None:
        if self.backend is not None:
            await self.backend.start(self)

    async def stop(self) -> None:
        if self.backend is not None:
            await self.backend.stop()

    async def not_ready(self) -> str | None:
        """Why the backend cannot carry messages now (None: it can, or there is none)."""
        return None if self.backend is None else await self.backend.reachable()

    # --- subscribers ------------------------------------------------------------------

    def subscribe(self, screen_id: int) -> Subscriber:
        """The one live subscriber of this screen: one it replaces is closed with 4005 (a
        screen's token cannot hold hundreds of sockets that all receive events), here at
        once and in other processes when the backend carries the news."""
        group = self._subscribers.setdefault(screen_id, set())
        for old in list(group):
            old.close(CLOSE_REPLACED)
            group.discard(old)
        subscriber = Subscriber(screen_id, next(self._serials))
        group.add(subscriber)
        if self.backend is not None:
            self.backend.send("replace", {"screen": screen_id, "serial": subscriber.serial})
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        group = self._subscribers.get(subscriber.screen_id)
        if group is not None:
            group.discard(subscriber)
            if not group:
                del self._subscribers[subscriber.screen_id]

    def online(self) -> set[int]:
        """Screens connected to this process."""
        return set(self._subscribers)

    async def fleet(self, screen_ids: Iterable[int]) -> dict[int, PlayerStatus]:
        """What these screens' players last said (`status`), with "online": whether one is
        connected now, to any process."""
        if self.backend is None:
            return {
                i: {**self.status[i], "online": i in self._subscribers}
                for i in screen_ids
                if i in self.status
            }
        return await self.backend.fleet(screen_ids)

    def disconnect(self, screen_id: int, code: int) -> None:
        if self.backend is None:
            self.apply_disconnect(screen_id, code)
        else:
            self.backend.send("disconnect", {"screen": screen_id, "code": code})

    def apply_disconnect(self, screen_id: int, code: int) -> None:
        for subscriber in list(self._subscribers.get(screen_id, ())):
            subscriber.close(code)

    def apply_replace(self, screen_id: int, serial: int, here: bool) -> None:
        """A subscription of this screen was announced (`here`: by this process): older
        announced subscribers of it close with 4005. Ones not yet announced are newer."""
        for subscriber in list(self._subscribers.get(screen_id, ())):
            if here and subscriber.serial == serial:
                subscriber.announced = True
            elif subscriber.announced:
                subscriber.close(CLOSE_REPLACED)

    def close_all(self, code: int) -> None:
        for group in list(self._subscribers.values()):
            for subscriber in list(group):
                subscriber.close(code)

    # --- events -----------------------------------------------------------------------

    def publish(self, event: Event, screen_ids: Iterable[int] | None = None) -> int | None:
        """Send an event to these screens (None: to every screen). Never waits. Returns its
        seq with the memory hub (None with a backend: the seq is given in Redis)."""
        at = time.time()
        targets = frozenset(screen_ids) if screen_ids is not None else None
        if self.backend is not None:
            self.backend.publish(encode(event), uuid.uuid4().hex, targets, at)
            return None
        seq = next(self._seq)
        text = encode({"type": "event", "seq": seq, "id": uuid.uuid4().hex, "event": event})
        self._buffer.append((seq, targets, text))
        self.deliver(seq, targets, text, at)
        return seq

    def deliver(
        self, seq: int, targets: frozenset[int] | None, text: str, published: float | None = None
    ) -> None:
        """Hand an event to this process's subscribers (in seq order). `published`: when it
        was published (wall clock, any process), for the push latency histogram, observed
        once per event after every local player has it written or queued."""
        self.seq = seq
        if targets is None:
            receivers: Iterable[set[Subscriber]] = self._subscribers.values()
        else:
            receivers = [self._subscribers[i] for i in targets if i in self._subscribers]
        for group in receivers:
            for subscriber in group:
                subscriber.offer(text)
        if published is not None:
            PUSH_LATENCY.observe(max(0.0, time.time() - published))

    async def missed(
        self, screen_id: int, epoch: str | None, seq: int, upto: int | None = None
    ) -> list[str] | None:
        """Events for this screen after `seq` up to `upto` (default: the latest delivered
        here), or None when they cannot all be given (another epoch, or older than the
        buffer): the player then starts afresh."""
        upto = self.seq if upto is None else upto
        if epoch != self.epoch or seq > upto:
            return None
        if seq == upto:
            return []
        if self.backend is not None:
            return await self.backend.missed(screen_id, epoch, seq, upto)
        if not self._buffer or self._buffer[0][0] > seq + 1:
            return None
        return [
            text
            for number, targets, text in self._buffer
            if seq < number <= upto and (targets is None or screen_id in targets)
        ]

    # --- manifests and state ----------------------------------------------------------

    def manifest(self, screen_id: int) -> tuple[int, str] | None:
        return self._manifests.get(screen_id)

    def set_manifest(self, screen_id: int, version: int, body: Manifest, push: bool = True) -> None:
        """Remember the screen's manifest (encoded once) and, with `push`, send it to the
        screen wherever it is connected (and replace it in every process's cache). Without
        `push` (a cache fill from the database) only this process remembers it."""
        current = self._manifests.get(screen_id)
        if current is not None and current[0] >= version:
            return
        text = encode({"type": "manifest", "version": version, "manifest": body})
        if push and self.backend is not None:
            self.backend.send("manifest", {"screen": screen_id, "version": version, "text": text})
        else:
            self.apply_manifest(screen_id, version, text, push)

    def apply_manifest(self, screen_id: int, version: int, text: str, push: bool = True) -> None:
        current = self._manifests.get(screen_id)
        if current is not None and current[0] >= version:
            return
        self._manifests[screen_id] = (version, text)
        if push:
            for subscriber in self._subscribers.get(screen_id, ()):
                subscriber.set_state("manifest", text)

    def push_state(self, key: str, text: str, screen_ids: Iterable[int]) -> None:
        """Send a state message (latest wins) to these screens, wherever connected."""
        screens = sorted(set(screen_ids))
        if self.backend is None:
            self.apply_state(key, text, screens)
        else:
            self.backend.send("state", {"key": key, "text": text, "screens": screens})

    def apply_state(self, key: str, text: str, screen_ids: Iterable[int]) -> None:
        for screen_id in screen_ids:
            for subscriber in self._subscribers.get(screen_id, ()):
                subscriber.set_state(key, text)

    def board(self, site_id: int) -> str | None:
        """The site's latest queue board (encoded `queue` message), from any process."""
        return self._boards.get(site_id)

    def set_board(self, site_id: int, text: str, screen_ids: Iterable[int] | None) -> None:
        """Remember the site's board and send it to these screens (None: only remember it
        here, a cache fill)."""
        if screen_ids is None or self.backend is None:
            self.apply_board(site_id, text, screen_ids or ())
        else:
            screens = sorted(set(screen_ids))
            self.backend.send("board", {"site": site_id, "text": text, "screens": screens})

    def apply_board(self, site_id: int, text: str, screen_ids: Iterable[int]) -> None:
        self._boards[site_id] = text
        self.apply_state("queue", text, screen_ids)

    # --- alerts (signage/alerts/delivery.py) --------------------------------------------

    def alerts(self, screen_id: int) -> str:
        """The screen's `alerts` message as it is now (an empty list when it shows none),
        from this process's memory: a connecting player is sent it without a database
        read."""
        cached = self._alerts.get(screen_id)
        if cached is not None:
            return cached[1]
        return encode({"type": "alerts", "revision": self._alerts_floor, "alerts": []})

    def fill_alerts(self, revision: int, grouped: Mapping[str, Iterable[int]]) -> None:
        """A full read of every screen's alerts (at start): screens not named show none as
        of `revision`. Only this process remembers it; nothing is sent."""
        self._alerts_floor = max(self._alerts_floor, revision)
        self.alerts_revision = max(self.alerts_revision, revision)
        named = {screen_id: text for text, screens in grouped.items() for screen_id in screens}
        for screen_id, (kept, _) in list(self._alerts.items()):
            if kept < revision and screen_id not in named:
                del self._alerts[screen_id]  # older than the read: it shows none now
        for screen_id, text in named.items():
            current = self._alerts.get(screen_id)
            if current is None or current[0] <= revision:
                self._alerts[screen_id] = (revision, text)

    def set_alerts(self, revision: int, grouped: Mapping[str, Iterable[int]]) -> None:
        """Remember these screens' `alerts` messages (text -> screens) and send them,
        wherever the screens are connected (every process remembers them too)."""
        self.alerts_revision = max(self.alerts_revision, revision)
        for text, screen_ids in grouped.items():
            screens = sorted(set(screen_ids))
            if self.backend is None:
                self.apply_alerts(revision, text, screens)
            else:
                self.backend.send(
                    "alerts", {"revision": revision, "text": text, "screens": screens}
                )

    def apply_alerts(self, revision: int, text: str, screen_ids: Iterable[int]) -> None:
        """Keep and send a screen's alerts unless it already has a newer list (one read
        later may arrive earlier, from another process)."""
        self.alerts_revision = max(self.alerts_revision, revision)
        for screen_id in screen_ids:
            current = self._alerts.get(screen_id)
            if revision < (current[0] if current is not None else self._alerts_floor):
                continue
            self._alerts[screen_id] = (revision, text)
            for subscriber in self._subscribers.get(screen_id, ()):
                subscriber.set_state("alerts", text)

    # --- pairing ----------------------------------------------------------------------

    def wait_for_pairing(self, token_hash: str) -> asyncio.Event:
        event = asyncio.Event()
        self._pairing.setdefault(token_hash, set()).add(event)
        return event

    def stop_waiting(self, token_hash: str, event: asyncio.Event) -> None:
        waiting = self._pairing.get(token_hash)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self._pairing[token_hash]

    def paired(self, token_hash: str) -> None:
        if self.backend is None:
            self.apply_paired(token_hash)
        else:
            self.backend.send("paired", {"token": token_hash})

    def apply_paired(self, token_hash: str) -> None:
        for event in self._pairing.pop(token_hash, ()):
            event.set()
