"""What screens are sent about alerts: one `alerts` state message per screen, the whole
list of what it shows now (latest wins; an empty list clears every alert).

Each screen gets the texts in its site's languages (easy Japanese right after Japanese)
and the voice clips already made; clips are made in the background after the alert is
sent, and the message is sent again once they are ready, so the picture never waits
for sound (docs/alerts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from content.alerts.templates import EASY_JAPANESE, order_languages
from signage.db import utcnow
from signage.live.hub import Hub, encode
from signage.models import Alert, AlertState, Screen, Site
from signage.queue.voice import Voice

log = logging.getLogger("signage.alerts")
KEY = "alerts"  # the hub's state key


def wire_id(alert_id: int) -> str:
    return f"a{alert_id}"


def showing(alert: Alert, now: datetime) -> bool:
    """Whether screens show it now."""
    return alert.state == AlertState.ACTIVE and alert.effective_at <= now < alert.expires_at


async def live_alerts(db: AsyncSession, now: datetime) -> list[Alert]:
    """Every alert screens show now (a handful at most)."""
    rows = await db.scalars(
        sa.select(Alert)
        .where(Alert.state == AlertState.ACTIVE, Alert.expires_at > now)
        .order_by(Alert.issued_at, Alert.id)
    )
    return [a for a in rows if showing(a, now)]


def site_languages(languages: str) -> list[str]:
    codes = [c.strip() for c in languages.split(",") if c.strip()]
    if "ja" in codes:
        codes.insert(codes.index("ja") + 1, EASY_JAPANESE)
    return codes


def spoken(language: str, text: dict[str, str]) -> str:
    stop = "。" if language.startswith("ja") else ". "
    return f"{text['headline']}{stop}{text['body']}".strip()


def item(alert: Alert, languages: Sequence[str], voice: Voice | None) -> dict[str, Any]:
    """One alert as the players get it."""
    texts = [t for t in alert.texts if t["language"] in languages] or list(alert.texts)
    order = order_languages([t["language"] for t in texts])
    texts.sort(key=lambda t: order.index(t["language"]))
    clips = []
    if voice is not None:
        for text in texts:
            name = voice.kept(text["language"], spoken(text["language"], text))
            if name is not None:
                clips.append({"language": text["language"], "url": f"/voice/{name}"})
    return {
        "id": wire_id(alert.id),
        "level": alert.level,
        "mode": alert.mode,
        "drill": alert.drill,
        "issued_at": alert.issued_at.isoformat(),
        "expires_at": alert.expires_at.isoformat(),
        "texts": [
            {"language": t["language"], "headline": t["headline"], "body": t["body"]} for t in texts
        ],
        "voice": clips,
        "alarm": f"/voice/{voice.alarm()}" if voice is not None else None,
    }


def message(alerts: Iterable[Alert], languages: Sequence[str], voice: Voice | None) -> str:
    return encode({"type": KEY, "alerts": [item(a, languages, voice) for a in alerts]})


async def messages(
    db: AsyncSession, screen_ids: Iterable[int], voice: Voice | None, now: datetime | None = None
) -> dict[str, list[int]]:
    """The `alerts` message of each of these screens, grouped: text -> screens."""
    wanted = sorted(set(screen_ids))
    if not wanted:
        return {}
    now = now or utcnow()
    alerts = await live_alerts(db, now)
    rows = await db.execute(
        sa.select(Screen.id, Site.languages)
        .join(Site, Site.id == Screen.site_id)
        .where(Screen.id.in_(wanted))
    )
    out: dict[str, list[int]] = {}
    for screen_id, languages in rows:
        mine = [a for a in alerts if screen_id in a.screens]
        text = message(mine, site_languages(languages), voice)
        out.setdefault(text, []).append(screen_id)
    return out


async def for_screen(db: AsyncSession, screen_id: int, voice: Voice | None) -> str | None:
    """A connecting player's `alerts` message, or None when it shows none."""
    mine = [a for a in await live_alerts(db, utcnow()) if screen_id in a.screens]
    if not mine:
        return None
    languages = await db.scalar(
        sa.select(Site.languages)
        .join(Screen, Screen.site_id == Site.id)
        .where(Screen.id == screen_id)
    )
    return message(mine, site_languages(languages or "ja,en"), voice)


def push(hub: Hub, grouped: dict[str, list[int]]) -> None:
    for text, screens in grouped.items():
        hub.push_state(KEY, text, screens)


class AlertPusher:
    """Sends screens their alerts after each change commits, one read at a time.

    Changes only mark screens (`changed`, after commit); one task reads the alerts afresh
    and pushes, so a message built before a clear can never arrive after the clear's
    empty list (in this process). Voice clips are made by another task, which marks the
    screens again once they are ready; the picture never waits for them.
    """

    def __init__(
        self, hub: Hub, sessions: async_sessionmaker[AsyncSession], voice: Voice | None
    ) -> None:
        self.hub = hub
        self.sessions = sessions
        self.voice = voice
        self._dirty: set[int] = set()
        self._speak: set[int] = set()
        self._wake = asyncio.Event()
        self._spoken = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.get_running_loop().create_task(self._send()),
            asyncio.get_running_loop().create_task(self._make_voice()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def changed(self, screen_ids: Iterable[int], *, speak: bool = True) -> None:
        screens = set(screen_ids)
        self._dirty |= screens
        self._wake.set()
        if speak and self.voice is not None and self.voice.enabled:
            self._speak |= screens
            self._spoken.set()

    async def send_now(self) -> None:
        """Read and push what is marked (the task's one step)."""
        screens, self._dirty = self._dirty, set()
        if not screens:
            return
        try:
            async with self.sessions() as db:
                push(self.hub, await messages(db, screens, self.voice))
        except Exception:
            self._dirty |= screens  # tried again after a pause
            log.exception("could not send alerts to screens; will retry")
            await asyncio.sleep(1.0)
            self._wake.set()

    async def _send(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.send_now()

    async def _make_voice(self) -> None:
        while True:
            await self._spoken.wait()
            self._spoken.clear()
            screens, self._speak = self._speak, set()
            if await self._clips(screens):
                self.changed(screens, speak=False)

    async def _clips(self, screens: set[int]) -> bool:
        """Make the clips of the alerts these screens show; whether any is new."""
        voice = self.voice
        if voice is None:
            return False
        made = False
        try:
            async with self.sessions() as db:
                alerts = [a for a in await live_alerts(db, utcnow()) if screens & set(a.screens)]
            for alert in alerts:
                for text in alert.texts:
                    language, said = text["language"], spoken(text["language"], text)
                    if voice.engine(language) and voice.kept(language, said) is None:
                        made = bool(await voice.clip(language, said)) or made
        except Exception:
            log.exception("could not make the voice of an alert; it is shown without")
        return made
