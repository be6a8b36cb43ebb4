"""The push hub: publishing code hands it messages; it knows nothing about sockets.

Each connected player has a `Subscriber` with a bounded queue of events and a slot for the
latest manifest (state is latest-wins: a newer manifest replaces one not yet sent). A
player whose queue overflows is marked too slow; its socket is closed (4004) and it resyncs
on reconnect, so one stalled screen never slows down the others.

Events carry one sequence number per hub start (`epoch`); the last `BUFFER` events are
kept so a reconnecting player can be sent what it missed.

This is the in-memory backend (one process); a Redis backend will implement the same
methods for several processes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

BUFFER = 1000
QUEUE_SIZE = 256

CLOSE_MALFORMED = 4000
CLOSE_UNKNOWN_TOKEN = 4001
CLOSE_REVOKED = 4002
CLOSE_FOREIGN_ORIGIN = 4003
CLOSE_TOO_SLOW = 4004
CLOSE_NO_HELLO = 4008
CLOSE_RESTART = 1012


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


@dataclass(eq=False)
class Subscriber:
    """One connected player, as the hub sees it."""

    screen_id: int
    events: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    state: dict[str, str] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None

    def offer(self, text: str) -> None:
        try:
            self.events.put_nowait(text)
        except asyncio.QueueFull:
            self.close(CLOSE_TOO_SLOW)
        self.wake.set()

    def set_state(self, key: str, text: str) -> None:
        self.state[key] = text
        self.wake.set()

    def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
        self.wake.set()
        self.closed.set()

    async def next_batch(self) -> list[str]:
        """Wait for something to send: state first (latest wins), then queued events."""
        while True:
            if self.close_code is not None:
                return []
            batch = list(self.state.values())
            self.state.clear()
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            if batch:
                return batch
            self.wake.clear()
            await self.wake.wait()


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
        subscriber = Subscriber(screen_id)
        self._subscribers.setdefault(screen_id, set()).add(subscriber)
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
