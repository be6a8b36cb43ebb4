"""What a zone shows at an instant: the same rule for the preview and for every player.

Items of a slot rotate in order by the clock, starting at the slot's start, so all screens
showing a slot are in step and a player that restarts picks up where it should be.

A notice is shown one language at a time, each for the item's `duration`; in a wide zone
the first language (usually Japanese) stays and the others take turns beside it. So a
notice in three languages with a duration of 10 s is on screen for 30 s (20 s side by side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from content.protocol import Item, NoticeBody, Slot, Timed, Zone

# A zone at least this share of a landscape screen's width shows two languages at once.
SIDE_BY_SIDE_WIDTH = 0.6
_FALLBACK_START = "2000-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class Showing:
    item: Item
    languages: tuple[str, ...]  # for a notice: the languages on screen now, in order
    # How long this view (the item, or one language group of a notice) has been on screen
    # and how long it stays, in seconds: a text too long for its zone turns pages in it.
    elapsed: float = field(default=0.0, compare=False)
    duration: float = field(default=0.0, compare=False)


def side_by_side(zone: Zone, orientation: str) -> bool:
    return (
        orientation == "landscape"
        and zone["kind"] == "main"
        and zone["width"] >= SIDE_BY_SIDE_WIDTH
    )


def _valid(item: Item, at: datetime) -> bool:
    since, until = item.get("from"), item.get("until")
    if since and datetime.fromisoformat(since) > at:
        return False
    return not (until and datetime.fromisoformat(until) <= at)


def _views(item: Item, notices: Mapping[str, NoticeBody], wide: bool) -> list[tuple[str, ...]]:
    """The language groups an item shows in turn; one empty group for non-notices."""
    if item["type"] != "notice":
        return [()]
    notice = notices.get(str(item.get("notice")))
    codes = [text["language"] for text in notice["texts"]] if notice else []
    if not codes:
        return [()]
    if wide and len(codes) > 1:
        return [(codes[0], other) for other in codes[1:]]
    return [(code,) for code in codes]


def _length(item: Item, notices: Mapping[str, NoticeBody], wide: bool) -> int:
    return max(1, int(item["duration"])) * len(_views(item, notices, wide))


def slot_at(slots: Sequence[Slot], at: datetime) -> Slot | None:
    """The slot of a zone's timeline (ISO `start`/`end`) that contains `at`."""
    for slot in slots:
        if datetime.fromisoformat(slot["start"]) <= at < datetime.fromisoformat(slot["end"]):
            return slot
    return None


def item_at(
    slot: Timed,
    at: datetime,
    notices: Mapping[str, NoticeBody] | None = None,
    wide: bool = False,
) -> Showing | None:
    """What `slot` shows at `at`, among its items valid then; None if none is."""
    notices = notices or {}
    items = [item for item in slot["items"] if _valid(item, at)]
    if not items:
        return None
    lengths = [_length(item, notices, wide) for item in items]
    offset = (at - datetime.fromisoformat(slot["start"])).total_seconds() % sum(lengths)
    for item, length in zip(items, lengths, strict=True):
        if offset < length:
            views = _views(item, notices, wide)
            duration = max(1, int(item["duration"]))
            index = min(int(offset // duration), len(views) - 1)
            return Showing(item, views[index], offset - index * duration, duration)
        offset -= length
    return Showing(items[-1], _views(items[-1], notices, wide)[0])


def shown_at(
    slots: Sequence[Slot],
    fallback: Sequence[Item],
    at: datetime,
    notices: Mapping[str, NoticeBody] | None = None,
    wide: bool = False,
) -> Showing | None:
    """What a zone shows at `at`: its slot's item, or else a fallback item, so a slot
    whose items are all outside their validity never leaves the zone blank."""
    slot = slot_at(slots, at)
    showing = item_at(slot, at, notices, wide) if slot else None
    if showing is None and fallback:
        showing = item_at({"start": _FALLBACK_START, "items": list(fallback)}, at, notices, wide)
    return showing
