"""What screens are sent about alerts: one `alerts` state message per screen, the whole
list of what it shows now (latest wins; an empty list clears every alert).

Each screen gets the texts in its site's languages (easy Japanese right after Japanese)
and the voice clips already made; clips are made in the background after the alert is
sent, and the message is sent again once they are ready, so the picture never waits
for sound (docs/alerts.md).
"""

from __future__ import annotations

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


async def speak_then_push(
    hub: Hub, sessions: async_sessionmaker[AsyncSession], voice: Voice, screen_ids: set[int]
) -> None:
    """Make the clips of the alerts these screens show, then send them again with voice."""
    try:
        async with sessions() as db:
            alerts = [a for a in await live_alerts(db, utcnow()) if screen_ids & set(a.screens)]
        made = False
        for alert in alerts:
            for text in alert.texts:
                language = text["language"]
                if voice.engine(language) and voice.kept(language, spoken(language, text)) is None:
                    made = bool(await voice.clip(language, spoken(language, text))) or made
        if made:
            async with sessions() as db:
                push(hub, await messages(db, screen_ids, voice))
    except Exception:
        log.exception("could not make the voice of an alert; it is shown without")
