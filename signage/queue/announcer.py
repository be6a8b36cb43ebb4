"""Takes what counters do to the screens: each call as a sequenced event with its sound,
and each site's board as a state message (latest wins).

Views hand it calls and changes only after their transaction commits. One task sends
the calls in order, each with its clips; a call whose counter has already called again
meanwhile goes out at once without sound (it would be announced after its counter moved
on), so a rush never waits for clips nobody should hear. Another task rebuilds the boards
of the sites that changed (at most one rebuild per site every `BOARD_EVERY` seconds, so a
burst of changes costs one): what screens show never waits for a clip to be made. A third
task speaks the numbers of newly issued tickets ahead of their calls (and, at start, every
counter's part).

The latest board of each site is kept by the hub (`Hub.board`), so with the Redis hub a
player connecting to any process gets the board another process built last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from content.protocol import AudioClip
from signage.live.hub import Hub, encode
from signage.models import QueueCounter, QueueService, QueueSite, Screen
from signage.queue import boards
from signage.queue.tickets import Call
from signage.queue.voice import Voice

log = logging.getLogger("signage.queue")
BOARD_EVERY = 0.25  # seconds: the most often one site's board is rebuilt
SCREENS_FOR = 2.0  # seconds a site's list of screens is reused


class Announcer:
    def __init__(self, hub: Hub, sessions: async_sessionmaker[AsyncSession], voice: Voice) -> None:
        self.hub = hub
        self.sessions = sessions
        self.voice = voice
        self._calls: deque[Call] = deque()
        self._dirty: set[int] = set()
        # What to speak ahead of calls: (what, how), oldest first.
        self._prepare: deque[tuple[str, Callable[[], Awaitable[None]]]] = deque()
        self._wake = asyncio.Event()
        self._called = asyncio.Event()
        self._prepared = asyncio.Event()
        self._built_at: dict[int, float] = {}  # site id -> when its board was last built
        self._screen_lists: dict[int, tuple[float, list[int]]] = {}  # site -> (until, ids)
        self._listing: dict[int, asyncio.Future[list[int]]] = {}  # lists being read
        self._no_queue: set[int] = set()  # sites found without services
        self._tasks: list[asyncio.Task[None]] = []

    # --- what views hand in (after commit; never blocks) -------------------------------

    def call(self, call: Call) -> None:
        self._calls.append(call)
        self._called.set()
        self._dirty.add(call.site_id)
        self._wake.set()

    def changed(self, site_id: int) -> None:
        self._no_queue.discard(site_id)
        self._dirty.add(site_id)
        self._wake.set()

    def prepare(self, prefix: str, number: int, languages: tuple[str, ...]) -> None:
        self._prepare.append(
            (f"{prefix}{number}", lambda: self.voice.prepare(prefix, number, languages))
        )
        self._prepared.set()

    def prepare_counter(self, counter: int, languages: tuple[str, ...]) -> None:
        self._prepare.append(
            (f"counter {counter}", lambda: self.voice.prepare_counter(counter, languages))
        )
        self._prepared.set()

    # --- what the player socket reads -------------------------------------------------

    async def board_message(self, site_id: int) -> str | None:
        """The site's board as it is now (built once if no change has built it yet), or
        None for a site with no queue."""
        text = self.hub.board(site_id)
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
        self._tasks = [
            asyncio.ensure_future(self._run()),
            asyncio.ensure_future(self._send_calls()),
            asyncio.ensure_future(self._speak()),
        ]

    async def stop(self) -> None:
        tasks: list[asyncio.Future[None] | asyncio.Future[list[int]]] = [
            *self._tasks,
            *self._listing.values(),
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.voice.close()

    async def warm(self) -> None:
        """Build the board of every site that has services, before players connect; draw
        the chime and speak every counter's part in the background, so that no call waits
        for them (a counter's first call used to make its clips while the boards waited)."""
        async with self.sessions() as db:
            site_ids = set(await db.scalars(sa.select(QueueService.site_id).distinct()))
            counters = (
                await db.execute(
                    sa.select(QueueCounter.number, QueueSite.voice_languages)
                    .join(QueueSite, QueueSite.site_id == QueueCounter.site_id)
                    .distinct()
                )
            ).all()
        for site_id in site_ids:
            await self._refresh(site_id)
        self.voice.chime()
        for number, languages in counters:
            self.prepare_counter(number, tuple(code for code in languages.split(",") if code))

    async def _run(self) -> None:
        while True:
            wait = self._next_board_in()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            try:
                await self._work()
            except Exception:  # one failure must not stop the next calls
                log.exception("announcing failed")

    def _next_board_in(self) -> float | None:
        """Seconds until a changed board is due to be rebuilt (None: nothing changed)."""
        if not self._dirty:
            return None
        now = time.monotonic()
        return max(0.0, min(self._built_at.get(s, 0.0) + BOARD_EVERY - now for s in self._dirty))

    async def _work(self) -> None:
        while self._next_board_in() == 0.0:
            now = time.monotonic()
            for site_id in [
                s for s in self._dirty if self._built_at.get(s, 0.0) + BOARD_EVERY <= now
            ]:
                self._dirty.discard(site_id)
                await self._refresh(site_id)

    async def _send_calls(self) -> None:
        while True:
            await self._called.wait()
            self._called.clear()
            while self._calls:
                call = self._calls.popleft()
                try:
                    await self._announce(call, silent=self._moved_on(call))
                except Exception:  # one failure must not stop the next calls
                    log.exception("announcing %s failed", call.label)

    def _moved_on(self, call: Call) -> bool:
        """Whether the call's counter has called again since (that call waits to go out)."""
        return any(
            later.site_id == call.site_id and later.counter_id == call.counter_id
            for later in self._calls
        )

    async def _speak(self) -> None:
        while True:
            await self._prepared.wait()
            self._prepared.clear()
            while self._prepare:
                what, speak = self._prepare.popleft()
                try:
                    await speak()
                except Exception:
                    log.exception("speaking %s failed", what)

    async def _screens(self, site_id: int) -> list[int]:
        """The site's screens, at most `SCREENS_FOR` s old. A list past half that age is
        read again in the background, so calls a few seconds apart never wait for it."""
        cached = self._screen_lists.get(site_id)
        now = time.monotonic()
        if cached is None or cached[0] <= now:
            return await self._list_screens(site_id)
        if cached[0] - SCREENS_FOR / 2 <= now and site_id not in self._listing:
            self._listing[site_id] = asyncio.ensure_future(self._list_screens(site_id))
        return cached[1]

    async def _list_screens(self, site_id: int) -> list[int]:
        try:
            async with self.sessions() as db:
                query = sa.select(Screen.id).where(Screen.site_id == site_id)
                found = list(await db.scalars(query))
            self._screen_lists[site_id] = (time.monotonic() + SCREENS_FOR, found)
            return found
        finally:
            self._listing.pop(site_id, None)

    async def _announce(self, call: Call, *, silent: bool = False) -> None:
        audio: list[AudioClip] = []
        texts: dict[str, str] = {}
        if not silent:
            audio, texts = await self.voice.call_audio(
                call.prefix, call.number, call.counter, call.voice_languages
            )
        self.hub.publish(call.event(audio, texts), await self._screens(call.site_id))

    async def _refresh(self, site_id: int, push: bool = True) -> str:
        async with self.sessions() as db:
            body = await boards.board(db, site_id)
        text = encode({"type": "queue", "board": body})
        self._built_at[site_id] = time.monotonic()
        self.hub.set_board(site_id, text, await self._screens(site_id) if push else None)
        return text
