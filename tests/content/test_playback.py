from __future__ import annotations

from datetime import UTC, datetime, timedelta

from content.playback import item_at, shown_at, side_by_side

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
NOTICES = {
    "1": {"texts": [{"language": "ja"}, {"language": "en"}, {"language": "vi"}]},
    "2": {"texts": [{"language": "ja"}]},
}
SLOT = {
    "start": START.isoformat(),
    "end": (START + timedelta(hours=1)).isoformat(),
    "items": [
        {"type": "notice", "notice": 1, "duration": 10},
        {"type": "image", "file": "a.png", "duration": 5},
        {"type": "notice", "notice": 2, "duration": 8},
    ],
}


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_a_notice_shows_each_language_for_its_duration() -> None:
    seen = [item_at(SLOT, at(s), NOTICES) for s in (0, 9, 10, 20, 29, 30, 35, 42, 43)]
    assert [(x.item.get("notice"), x.languages) for x in seen if x] == [
        (1, ("ja",)),
        (1, ("ja",)),
        (1, ("en",)),
        (1, ("vi",)),
        (1, ("vi",)),
        (None, ()),
        (2, ("ja",)),
        (2, ("ja",)),
        (1, ("ja",)),  # 43 s: the cycle begins again
    ]


def test_side_by_side_keeps_the_first_language_and_turns_the_others() -> None:
    assert item_at(SLOT, at(0), NOTICES, wide=True).languages == ("ja", "en")  # type: ignore[union-attr]
    assert item_at(SLOT, at(10), NOTICES, wide=True).languages == ("ja", "vi")  # type: ignore[union-attr]
    # Two views instead of three: the picture comes after 20 s.
    assert item_at(SLOT, at(20), NOTICES, wide=True).item["type"] == "image"  # type: ignore[union-attr]


def test_items_outside_their_window_are_skipped_and_the_fallback_fills_in() -> None:
    later = {"type": "notice", "notice": 2, "duration": 8, "from": at(100).isoformat()}
    slot = {**SLOT, "items": [later]}
    fallback = [{"type": "image", "file": "welcome.png", "duration": 7}]
    assert item_at(slot, at(50), NOTICES) is None
    showing = shown_at([slot], fallback, at(50), NOTICES)
    assert showing is not None and showing.item["file"] == "welcome.png"
    assert shown_at([slot], fallback, at(100), NOTICES).item["notice"] == 2  # type: ignore[union-attr]
    assert shown_at([slot], [], at(50), NOTICES) is None


def test_which_zones_are_wide() -> None:
    assert side_by_side({"kind": "main", "width": 0.7}, "landscape")
    assert not side_by_side({"kind": "main", "width": 0.5}, "landscape")
    assert not side_by_side({"kind": "main", "width": 1}, "portrait")
    assert not side_by_side({"kind": "ticker", "width": 1}, "landscape")
