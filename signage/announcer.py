"""Takes what counters do to the screens: each call as a sequenced event with its sound,
and each site's board as a state message (latest wins).

Views hand it calls and changes only after their transaction commits. One task works
through them in order: calls first (each gets its clips, then goes out), then the
boards of the sites that changed (one rebuild for a burst of changes), then, when nothing
else waits, the voice clips of newly issued numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signage import boards
from signage.hub import Hub, encode
from signage.models import QueueService, Screen
from signage.tickets import Call
from signage.voice import Voice

log = logging.getLogger("signage.queue")


class Announcer:
    def __init__(self, hub: Hub, sessions: async_sessionmaker[AsyncSession], voice: Voice) -> None:
        self.hub = hub
        self.sessions = sessions
        self.voice = voice
        self._calls: deque[Call] = deque()
        self._dirty: set[int] = set()
        self._prepare: deque[tuple[str, int, tuple[str, ...]]] = deque()
        self._wake = asyncio.Event()
        self._boards: dict[int, str] = {}  # site id -> encoded `queue` message
        self._no_queue: set[int] = set()  # sites found without services
        self._task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()  # set while nothing is left to do (tests wait on it)
        self.idle.set()

    # --- what views hand in (after commit; never blocks) -------------------------------

    def call(self, call: Call) -> None:
        self._calls.append(call)
        self._dirty.add(call.site_id)
        self._poke()

    def changed(self, site_id: int) -> None:
        self._no_queue.discard(site_id)
        self._dirty.add(site_id)
        self._poke()

    def prepare(self, prefix: str, number: int, languages: tuple[str, ...]) -> None:
        self._prepare.append((prefix, number, languages))
        self._poke()

    def _poke(self) -> None:
        self.idle.clear()
        self._wake.set()

    # --- what the player socket reads -------------------------------------------------

    async def board_message(self, site_id: int) -> str | None:
        """The site's board as it is now (built once if no change has built it yet), or
        None for a site with no queue."""
        text = self._boards.get(site_id)
        if text is None and site_id not in self._no_queue:
            async with self.sessions() as db:
                has_queue = await db.scalar(
                    sa.select(QueueService.id).where(QueueService.site_id == site_id).limit(1)
                )
            if has_queue is None:
                self._no_queue.add(site_id)  # until a change at the site says otherwise
                return None
            text = await self._refresh(site_id, push=False)
        return text

    # --- the worker -------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.voice.close()

    async def warm(self) -> None:
        """Build the board of every site that has services, before players connect."""
        async with self.sessions() as db:
            site_ids = set(await db.scalars(sa.select(QueueService.site_id).distinct()))
        for site_id in site_ids:
            await self._refresh(site_id)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._work()
            except Exception:  # one failure must not stop the next calls
                log.exception("announcing failed")
            if not (self._calls or self._dirty or self._prepare):
                self.idle.set()

    async def _work(self) -> None:
        while self._calls or self._dirty or self._prepare:
            while self._calls:
                await self._announce(self._calls.popleft())
            while self._dirty and not self._calls:
                await self._refresh(self._dirty.pop())
            if self._prepare and not self._calls and not self._dirty:
                prefix, number, languages = self._prepare.popleft()
                await self.voice.prepare(prefix, number, languages)

    async def _screens(self, site_id: int) -> list[int]:
        async with self.sessions() as db:
            return list(await db.scalars(sa.select(Screen.id).where(Screen.site_id == site_id)))

    async def _announce(self, call: Call) -> None:
        audio, texts = await self.voice.call_audio(
            call.prefix, call.number, call.counter, call.voice_languages
        )
        event: dict[str, Any] = call.event() | {"audio": audio, "texts": texts}
        self.hub.publish(event, await self._screens(call.site_id))

    async def _refresh(self, site_id: int, push: bool = True) -> str:
        async with self.sessions() as db:
            body = await boards.board(db, site_id)
        text = encode({"type": "queue", "board": body})
        self._boards[site_id] = text
        if push:
            self.hub.push_state("queue", text, await self._screens(site_id))
        return text

    async def settle(self) -> None:
        """Wait until everything handed in so far has gone out (for tests and benches)."""
        await self.idle.wait()
