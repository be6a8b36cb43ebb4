"""Emergency alerts, independent of storage: levels, display modes and the alert draft
that a manual form, a CAP 1.2 document or a JMA disaster-information XML becomes.

Extreme and severe alerts take over the whole screen; moderate and minor ones show as a
banner over normal content (which never hides a queue call).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

Source = Literal["manual", "cap", "jma"]
SOURCES: tuple[Source, ...] = ("manual", "cap", "jma")


class Level(StrEnum):
    EXTREME = "extreme"
    SEVERE = "severe"
    MODERATE = "moderate"
    MINOR = "minor"


class Mode(StrEnum):
    TAKEOVER = "takeover"
    BANNER = "banner"


def mode_for(level: Level) -> Mode:
    """Extreme and severe alerts take over the screen; moderate and minor are a banner."""
    if level in (Level.EXTREME, Level.SEVERE):
        return Mode.TAKEOVER
    return Mode.BANNER


@dataclass(frozen=True)
class AlertText:
    """An alert's text in one language (BCP 47 code, e.g. "ja", "en", "ja-easy")."""

    language: str
    headline: str
    body: str


@dataclass(frozen=True)
class AlertDraft:
    """An alert as issued, before it is stored and targeted to screens.

    `identifier` is unique per `source`. `areas` are area codes (empty: the caller gives
    explicit targets). `replaces` is the identifier of the alert this one updates; `cancel`
    removes that alert instead. `headline_as_issued`: the Japanese headline (JMA) is shown
    verbatim, never reworded. Datetimes are timezone-aware.
    """

    source: Source
    identifier: str
    level: Level
    mode: Mode
    drill: bool
    texts: tuple[AlertText, ...]
    sent_at: datetime
    effective_at: datetime
    expires_at: datetime
    areas: tuple[str, ...] = ()
    replaces: str | None = None
    cancel: bool = False
    headline_as_issued: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        if not self.identifier:
            raise ValueError("identifier must not be empty")
        for name in ("sent_at", "effective_at", "expires_at"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        if not self.cancel and not self.texts:
            raise ValueError("an alert needs at least one text")

    def text_for(self, language: str) -> AlertText | None:
        """The text in `language`, or None."""
        return next((t for t in self.texts if t.language == language), None)
