"""Human words for what staff read: the labels of statuses, roles, styles, zones and the
like (one table each, used by every page), audit values and what screens are playing.

Stored audit values and player reports use ids, codes and short machine forms; staff see
names, translated labels and local times instead (`tests/test_words.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.languages import LANGUAGES as CONTENT_LANGUAGES
from content.layouts import LAYOUTS
from signage.i18n import LANGUAGES as UI_LANGUAGES
from signage.i18n import N_
from signage.models import (
    Media,
    Notice,
    Playlist,
    QueueCounter,
    QueueService,
    Rendition,
    Role,
    Screen,
    ScreenGroup,
    Site,
    TicketStatus,
)

Translate = Callable[..., str]

# Where an id-valued audit field points.
REFERENCES: dict[str, type[Any]] = {
    "site_id": Site,
    "playlist_id": Playlist,
    "default_playlist_id": Playlist,
    "screen_id": Screen,
    "group_id": ScreenGroup,
    "image_id": Media,
    "media_id": Media,
    "notice_id": Notice,
    "service_id": QueueService,
    "counter_id": QueueCounter,
    "for_counter_id": QueueCounter,
}
NOTICE_STATUS = {
    "draft": N_("Draft"),
    "pending": N_("Waiting for approval"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
}
TICKET_STATUS = {
    TicketStatus.WAITING.value: N_("Waiting"),
    TicketStatus.CALLED.value: N_("Called"),
    TicketStatus.SERVING.value: N_("Being served"),
    TicketStatus.HELD.value: N_("On hold"),
    TicketStatus.DONE.value: N_("Served"),
    TicketStatus.NO_SHOW.value: N_("No-show"),
    TicketStatus.CANCELLED.value: N_("Cancelled"),
    TicketStatus.CLOSED.value: N_("Closed at the end of the day"),
}
STYLES = {"normal": N_("Normal"), "important": N_("Important"), "closure": N_("Closure")}
ROLES: dict[str, str] = {  # keyed by `Role` (a str enum)
    Role.ADMIN: N_("Administrator"),
    Role.PUBLISHER: N_("Publisher"),
    Role.EDITOR: N_("Editor"),
    Role.COUNTER: N_("Counter staff"),
}
ZONES = {
    "main": N_("Main area"),
    "side": N_("Side column"),
    "ticker": N_("Ticker"),
    "header": N_("Header"),
    "board": N_("Queue board"),
}
DAYS = {
    "all": N_("Every day"),
    "open": N_("Except public holidays and closure days"),
    "closed": N_("Only public holidays and closure days"),
}
SOURCES = {"kiosk": N_("Kiosk"), "staff": N_("Counter staff")}
ITEM_KINDS = {
    "notice": N_("Notice"),
    "image": N_("Picture"),
    "ticker": N_("Ticker text"),
    "clock": N_("Clock"),
    "queue_board": N_("Queue board"),
}
# Fields that say nothing a person can use (content hashes): left out of the log view.
HIDDEN = {"sha256"}
TIMES = {"valid_from", "valid_until", "starts_at", "ends_at"}
TEXT_FIELD = re.compile(r"^(title|body)_([A-Za-z-]+)$")
ITEM = re.compile(r"^(?P<kind>[a-z_]+):(?P<target>.*):(?P<seconds>\d+)s$", re.S)


@dataclass
class Names:
    """Names of the rows that a page of audit entries or fleet rows refers to."""

    rows: dict[tuple[type[Any], int], str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # rendition file -> picture name

    def of(self, model: type[Any], value: object) -> str | None:
        return self.rows.get((model, value)) if isinstance(value, int) else None


def _ids_in(values: Mapping[str, Any] | None, wanted: dict[type[Any], set[int]]) -> None:
    for key, value in (values or {}).items():
        model = REFERENCES.get(key)
        if model is not None and isinstance(value, int):
            wanted.setdefault(model, set()).add(value)
        if key == "items" and isinstance(value, list):
            for item in value:
                match = ITEM.match(str(item))
                if match and match["target"].isascii() and match["target"].isdigit():
                    model = Notice if match["kind"] == "notice" else Media
                    wanted.setdefault(model, set()).add(int(match["target"]))


async def load_names(
    db: AsyncSession,
    values: Iterable[Mapping[str, Any] | None],
    language: str,
    *,
    notices: Iterable[int] = (),
    files: Iterable[str] = (),
) -> Names:
    wanted: dict[type[Any], set[int]] = {}
    for each in values:
        _ids_in(each, wanted)
    if notices:
        wanted.setdefault(Notice, set()).update(notices)
    names = Names()
    for model, ids in wanted.items():
        if not ids:
            continue
        rows = await db.scalars(sa.select(model).where(model.id.in_(ids)))
        for row in rows:
            names.rows[(model, row.id)] = _name_of(row, language)
    # A rendition's file is named by its SHA-256 and an extension.
    by_hash = {f.split(".", 1)[0]: f for f in files if f}
    if by_hash:
        for sha256, name in await db.execute(
            sa.select(Rendition.sha256, Media.display_name)
            .join(Media, Media.id == Rendition.media_id)
            .where(Rendition.sha256.in_(list(by_hash)))
        ):
            names.files[by_hash[sha256]] = name
    return names


def _name_of(row: Any, language: str) -> str:
    if isinstance(row, Notice):
        return row.title(language)
    if isinstance(row, Media):
        return str(row.display_name)
    if isinstance(row, QueueService):
        return f"{row.prefix} {row.name}"
    if isinstance(row, QueueCounter):
        return row.name or str(row.number)
    return str(row.name)


def field_label(key: str, labels: Mapping[str, str], _: Translate) -> str:
    if key in labels:
        return _(labels[key])
    text = TEXT_FIELD.match(key)
    if text:
        language = CONTENT_LANGUAGES.get(text[2], text[2])
        what = _("Title") if text[1] == "title" else _("Text")
        return f"{what} ({language})"
    return key.replace("_", " ")


def value_text(
    key: str,
    value: Any,
    target_type: str,
    names: Names,
    _: Translate,
    timezone: str,
) -> str:
    """One stored audit value, as a person reads it."""
    if value is None or value == "" or value == []:
        return "—"
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    model = REFERENCES.get(key)
    if model is not None:
        return names.of(model, value) or _("(removed)")
    if key == "status":
        labels = NOTICE_STATUS if target_type == "notice" else TICKET_STATUS
        return _(labels[value]) if value in labels else str(value)
    simple: dict[str, Mapping[str, str]] = {
        "style": STYLES,
        "role": ROLES,
        "zone": ZONES,
        "days": DAYS,
        "source": SOURCES,
    }
    if key in simple and value in simple[key]:
        return _(simple[key][value])
    if key == "layout" and value in LAYOUTS:
        return _(LAYOUTS[value].title)
    if key == "language" and value in UI_LANGUAGES:
        return str(UI_LANGUAGES[value])
    if key in {"languages", "voice_languages"} and isinstance(value, str):
        return "、".join(CONTENT_LANGUAGES.get(code, code) for code in value.split(",") if code)
    if key in TIMES and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    if key == "items" and isinstance(value, list):
        return " / ".join(item_text(str(item), names, _) for item in value)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "、".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def item_text(stored: str, names: Names, _: Translate) -> str:
    """A playlist item as the audit log stored it ("notice:12:15s") in words."""
    match = ITEM.match(stored)
    if match is None:
        return stored
    kind, target, seconds = match["kind"], match["target"], match["seconds"]
    what = _(ITEM_KINDS[kind]) if kind in ITEM_KINDS else kind
    if kind in {"notice", "image"} and target.isascii() and target.isdigit():
        name = names.of(Notice if kind == "notice" else Media, int(target))
        what = f"{what}「{name or _('(removed)')}」"
    elif kind == "ticker" and target:
        what = f"{what}「{target}」"
    return _("%(what)s, %(seconds)s s", what=what, seconds=seconds)


def diff_rows(
    entry: Any, labels: Mapping[str, str], names: Names, _: Translate, timezone: str
) -> list[tuple[str, str | None, str | None]]:
    """(field, before, after) in words for one audit entry; None where a side is absent."""
    before: Mapping[str, Any] = entry.before or {}
    after: Mapping[str, Any] = entry.after or {}
    rows = []
    for key in dict.fromkeys([*before, *after]):
        if key in HIDDEN:
            continue
        rows.append(
            (
                field_label(key, labels, _),
                value_text(key, before[key], entry.target_type, names, _, timezone)
                if key in before
                else None,
                value_text(key, after[key], entry.target_type, names, _, timezone)
                if key in after
                else None,
            )
        )
    return rows


# --- what screens are playing (fleet view) ---------------------------------------------

PLAYING = re.compile(r"^notice (?P<id>\d{1,9}) (?P<languages>[A-Za-z+-]*): ?(?P<titles>.*)$", re.S)


def playing_parts(report: str) -> tuple[int | None, str | None]:
    """The notice id and picture file a player's report names (to look their names up)."""
    notice = PLAYING.match(report)
    if notice:
        return int(notice["id"]), None
    if report.startswith("image "):
        return None, report[6:].strip()
    return None, None


def playing_text(report: str, names: Names, _: Translate) -> str:
    """What a player said a zone shows (docs/protocol.md, heartbeat `playing`), in words."""
    report = report.strip()
    if report in {"", "-", "idle"}:
        return "—"
    if report == "clock":
        return _("Clock")
    if report == "queue board":
        return _("Queue board")
    if report.startswith("serving "):
        return _("Serving %(number)s", number=report[8:].strip())
    notice = PLAYING.match(report)
    if notice:
        title = names.of(Notice, int(notice["id"])) or notice["titles"]
        languages = [
            CONTENT_LANGUAGES.get(code, code) for code in notice["languages"].split("+") if code
        ]
        shown = f"{_('Notice')}「{title}」"
        return f"{shown} ({'、'.join(languages)})" if languages else shown
    if report.startswith("image "):
        name = names.files.get(report[6:].strip())
        return f"{_('Picture')}「{name}」" if name else _("Picture")
    if report.startswith("ticker:"):
        return f"{_('Ticker text')}「{report[7:].strip()}」"
    return report
