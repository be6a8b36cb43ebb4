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

Events carry one sequence number per hub start (`epoch`); the last `BUFFER` events are
kept so a reconnecting player can be sent what it missed.

This is the in-memory backend (one process); a Redis backend will implement the same
methods for several processes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

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


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Subscriber:
    """One connected player, as the hub sees it.

    Kept small and cheap to wake: a deque of encoded events, the latest state messages,
    and one future that exists only while the player's sender is waiting.
    """

    __slots__ = ("_waiter", "close_code", "events", "on_close", "screen_id", "state", "write")

    def __init__(self, screen_id: int) -> None:
        self.screen_id = screen_id
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


class Hub:
    def __init__(self) -> None:
        self.epoch = secrets.token_hex(8)
        self._seq = itertools.count(1)
        self.seq = 0
        self._buffer: deque[tuple[int, frozenset[int] | None, str]] = deque(maxlen=BUFFER)
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._pairing: dict[str, set[asyncio.Event]] = {}
        # screen id -> (manifest version, encoded `manifest` message)
        self._manifests: dict[int, tuple[int, str]] = {}
        # screen id -> what its player last said: {"at", "playing", "manifest_version"}
        self.status: dict[int, dict[str, Any]] = {}

    # --- subscribers ------------------------------------------------------------------

    def subscribe(self, screen_id: int) -> Subscriber:
        """The one live subscriber of this screen: one it replaces is closed with 4005 (a
        screen's token cannot hold hundreds of sockets that all receive events)."""
        group = self._subscribers.setdefault(screen_id, set())
        for old in list(group):
            old.close(CLOSE_REPLACED)
            group.discard(old)
        subscriber = Subscriber(screen_id)
        group.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        group = self._subscribers.get(subscriber.screen_id)
        if group is not None:
            group.discard(subscriber)
            if not group:
                del self._subscribers[subscriber.screen_id]

    def online(self) -> set[int]:
        return set(self._subscribers)

    def disconnect(self, screen_id: int, code: int) -> None:
        for subscriber in list(self._subscribers.get(screen_id, ())):
            subscriber.close(code)

    def close_all(self, code: int) -> None:
        for group in list(self._subscribers.values()):
            for subscriber in list(group):
                subscriber.close(code)

    # --- events -----------------------------------------------------------------------

    def publish(self, event: dict[str, Any], screen_ids: Iterable[int] | None = None) -> int:
        """Send an event to these screens (None: to every screen). Returns its seq."""
        seq = next(self._seq)
        self.seq = seq
        targets = frozenset(screen_ids) if screen_ids is not None else None
        text = encode({"type": "event", "seq": seq, "id": uuid.uuid4().hex, "event": event})
        self._buffer.append((seq, targets, text))
        if targets is None:
            receivers: Iterable[set[Subscriber]] = self._subscribers.values()
        else:
            receivers = [self._subscribers[i] for i in targets if i in self._subscribers]
        for group in receivers:
            for subscriber in group:
                subscriber.offer(text)
        return seq

    def missed(self, screen_id: int, epoch: str | None, seq: int) -> list[str] | None:
        """Events for this screen after `seq`, or None when they cannot all be given (another
        epoch, or older than the buffer): the player then starts afresh."""
        if epoch != self.epoch or seq > self.seq:
            return None
        if seq < self.seq and (not self._buffer or self._buffer[0][0] > seq + 1):
            return None
        return [
            text
            for number, targets, text in self._buffer
            if number > seq and (targets is None or screen_id in targets)
        ]

    # --- manifests --------------------------------------------------------------------

    def manifest(self, screen_id: int) -> tuple[int, str] | None:
        return self._manifests.get(screen_id)

    def set_manifest(
        self, screen_id: int, version: int, body: dict[str, Any], push: bool = True
    ) -> None:
        """Remember the screen's manifest (encoded once) and, with `push`, send it to the
        screen if it is connected."""
        current = self._manifests.get(screen_id)
        if current is not None and current[0] >= version:
            return
        text = encode({"type": "manifest", "version": version, "manifest": body})
        self._manifests[screen_id] = (version, text)
        if push:
            for subscriber in self._subscribers.get(screen_id, ()):
                subscriber.set_state("manifest", text)

    def push_state(self, key: str, text: str, screen_ids: Iterable[int]) -> None:
        """Send a state message (latest wins, e.g. a queue board) to these screens."""
        for screen_id in screen_ids:
            for subscriber in self._subscribers.get(screen_id, ()):
                subscriber.set_state(key, text)

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
        for event in self._pairing.pop(token_hash, ()):
            event.set()
