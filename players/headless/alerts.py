"""Emergency alerts (the `alerts` state message of docs/protocol.md) as a frame shows them.

The server sends the whole list (latest wins; empty clears). A takeover alert covers the
whole screen, each of its languages in turn; a banner alert is a band below the zones. An
alert is never shown at or past its `expires_at`, by the server's clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PAGE_SECONDS = 5.0  # each language (and each takeover alert) in turn
LEVELS = {"extreme": 4, "severe": 3, "moderate": 2, "minor": 1}
ISSUED = {"ja": "{t} 発表", "en": "Issued at {t}", "ja-easy": "{t} に でました"}
DRILL_MARK = "訓練 / DRILL"


@dataclass(frozen=True)
class Alert:
    """One alert as received (the fields a player needs)."""

    id: str
    level: str
    takeover: bool
    drill: bool
    issued_at: datetime | None
    expires_at: datetime
    texts: tuple[tuple[str, str, str], ...]  # (language, headline, body)


@dataclass(frozen=True)
class AlertView:
    """What the alert area of a frame shows now: one alert in one language."""

    ids: tuple[str, ...]  # every alert taking turns here (acknowledged once drawn)
    id: str
    level: str
    drill: bool
    language: str
    headline: str
    body: str
    issued: str  # "12/2 14:01 発表"


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse(items: object) -> list[Alert]:
    """The alerts of a message's `alerts` list that can be shown (others are skipped)."""
    alerts = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        expires = _time(item.get("expires_at"))
        texts = tuple(
            (str(t.get("language", "")), str(t.get("headline", "")), str(t.get("body", "")))
            for t in item.get("texts") or []
            if isinstance(t, Mapping)
        )
        if expires is None or not texts:
            continue
        alerts.append(
            Alert(
                id=item["id"][:64],
                level=str(item.get("level", "")),
                takeover=item.get("mode") == "takeover",
                drill=item.get("drill") is True,
                issued_at=_time(item.get("issued_at")),
                expires_at=expires,
                texts=texts,
            )
        )
    return alerts


def live(alerts: Sequence[Alert], now: datetime) -> list[Alert]:
    """Those not expired at `now` (the server's time), gravest first, then newest."""
    shown = [alert for alert in alerts if now < alert.expires_at]
    shown.sort(key=lambda a: a.issued_at.timestamp() if a.issued_at else 0.0, reverse=True)
    shown.sort(key=lambda a: LEVELS.get(a.level, 0), reverse=True)
    return shown


def issued_text(alert: Alert, language: str, timezone: str) -> str:
    if alert.issued_at is None:
        return ""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        zone = ZoneInfo("UTC")
    at = alert.issued_at.astimezone(zone)
    stamp = f"{at.month}/{at.day} {at:%H:%M}"
    return ISSUED.get(language, "{t} 発表 / Issued").replace("{t}", stamp)


def views(
    alerts: Sequence[Alert], now: datetime, elapsed: float, timezone: str
) -> tuple[AlertView | None, AlertView | None]:
    """(takeover, banner): what the screen shows at `now`, `elapsed` seconds after this set
    of alerts first showed. A takeover hides any banner."""
    shown = live(alerts, now)
    takeovers = [a for a in shown if a.takeover]
    chosen = takeovers or [a for a in shown if not a.takeover]
    pages = [(alert, text) for alert in chosen for text in alert.texts]
    if not pages:
        return None, None
    alert, (language, headline, body) = pages[int(max(elapsed, 0) // PAGE_SECONDS) % len(pages)]
    view = AlertView(
        ids=tuple(a.id for a in chosen),
        id=alert.id,
        level=alert.level,
        drill=alert.drill,
        language=language,
        headline=headline,
        body=body,
        issued=issued_text(alert, language, timezone),
    )
    return (view, None) if takeovers else (None, view)


def key(alerts: Sequence[Alert], now: datetime) -> tuple[Any, ...]:
    """What tells one set of shown alerts from another (the turns start again when it
    changes)."""
    return tuple((a.id, a.drill, a.texts) for a in live(alerts, now))
