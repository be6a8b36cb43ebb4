"""What screens are sent about alerts: one `alerts` state message per screen, the whole
list of what it shows now (latest wins; an empty list clears every alert), with a
revision that rises with each read, so a list read earlier never replaces one read later,
whichever process sent it. The hub keeps each screen's latest message (filled at start
by `AlertPusher.warm`); a connecting player is sent it from there.

Each screen gets the texts in its site's languages (easy Japanese right after Japanese)
and the voice clips already made; clips are made in the background after the alert is
sent, and the message is sent again once they are ready, so the picture never waits
for sound (docs/alerts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from content.alerts.templates import EASY_JAPANESE, order_languages
from content.protocol import AlertInfo, AlertsMessage, AlertVoiceClip
from signage.db import utcnow
from signage.live.hub import Hub, encode
from signage.models import Alert, AlertState, Screen, Site
from signage.queue.voice import Voice

log = logging.getLogger("signage.alerts")


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


def item(alert: Alert, languages: Sequence[str], voice: Voice | None) -> AlertInfo:
    """One alert as the players get it."""
    texts = [t for t in alert.texts if t["language"] in languages] or list(alert.texts)
    order = order_languages([t["language"] for t in texts])
    texts.sort(key=lambda t: order.index(t["language"]))
    clips: list[AlertVoiceClip] = []
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


def message(
    alerts: Iterable[Alert], languages: Sequence[str], voice: Voice | None, revision: int
) -> str:
    body: AlertsMessage = {
        "type": "alerts",
        "revision": revision,
        "alerts": [item(a, languages, voice) for a in alerts],
    }
    return encode(body)


async def revision(db: AsyncSession, hub: Hub) -> int:
    """The revision of what is read next in `db`: the database's clock in microseconds
    (every process reads the same clock), taken before the read, and above every revision
    this process has seen (so it rises even if the clock steps back). A list read later
    has a higher revision than any read before the change it shows."""
    if db.get_bind().dialect.name == "postgresql":
        clock = await db.scalar(
            sa.text("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)")
        )
    else:  # SQLite: the processes share this machine's clock
        clock = time.time_ns() // 1000
    return max(int(clock or 0), hub.alerts_revision + 1)


async def messages(
    db: AsyncSession,
    screen_ids: Iterable[int],
    voice: Voice | None,
    revision: int,
    now: datetime | None = None,
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
        text = message(mine, site_languages(languages), voice, revision)
        out.setdefault(text, []).append(screen_id)
    return out


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

    async def warm(self) -> None:
        """Read what every screen shows into the hub, before players connect (they are
        sent it from there, without a database read per connect)."""
        async with self.sessions() as db:
            number = await revision(db, self.hub)
            screens = {s for a in await live_alerts(db, utcnow()) for s in a.screens}
            grouped = await messages(db, screens, self.voice, number)
        self.hub.fill_alerts(number, grouped)

    async def send_now(self) -> None:
        """Read and push what is marked (the task's one step)."""
        screens, self._dirty = self._dirty, set()
        if not screens:
            return
        try:
            async with self.sessions() as db:
                number = await revision(db, self.hub)
                grouped = await messages(db, screens, self.voice, number)
            self.hub.set_alerts(number, grouped)
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
