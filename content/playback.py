"""What a zone shows at an instant: the same rule for the preview and for every player.

Items of a slot rotate in order by the clock, starting at the slot's start, so all screens
showing a slot are in step and a player that restarts picks up where it should be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def _valid(item: Mapping[str, Any], at: datetime) -> bool:
    since, until = item.get("from"), item.get("until")
    if since and datetime.fromisoformat(since) > at:
        return False
    return not (until and datetime.fromisoformat(until) <= at)


def slot_at(slots: Sequence[Mapping[str, Any]], at: datetime) -> Mapping[str, Any] | None:
    """The slot of a zone's timeline (ISO `start`/`end`) that contains `at`."""
    for slot in slots:
        if datetime.fromisoformat(slot["start"]) <= at < datetime.fromisoformat(slot["end"]):
            return slot
    return None


def item_at(slot: Mapping[str, Any], at: datetime) -> Mapping[str, Any] | None:
    """The item of `slot` on screen at `at`, among those valid then; None if none is."""
    items: list[Mapping[str, Any]] = [item for item in slot.get("items", []) if _valid(item, at)]
    if not items:
        return None
    cycle = sum(max(1, int(item["duration"])) for item in items)
    offset = (at - datetime.fromisoformat(slot["start"])).total_seconds() % cycle
    for item in items:
        offset -= max(1, int(item["duration"]))
        if offset < 0:
            return item
    return items[-1]


def shown_at(
    slots: Sequence[Mapping[str, Any]],
    fallback: Sequence[Mapping[str, Any]],
    at: datetime,
) -> Mapping[str, Any] | None:
    """What a zone shows at `at`: its slot's item, or else a fallback item, so a slot
    whose items are all outside their validity never leaves the zone blank."""
    slot = slot_at(slots, at)
    item = item_at(slot, at) if slot else None
    if item is None and fallback:
        item = item_at({"start": "2000-01-01T00:00:00+00:00", "items": fallback}, at)
    return item
