"""Ready layouts: how a screen is divided into zones.

Positions are fractions of the screen (0..1), so one layout fits any resolution of its
orientation. Zone kinds tell players what a zone can show.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from content import N_


class ZoneKind(StrEnum):
    MAIN = "main"  # notices, images, the queue board
    SIDE = "side"  # smaller notices and images
    TICKER = "ticker"  # one line of scrolling text
    HEADER = "header"  # site name and clock
    QUEUE = "queue"  # the queue board, always (a board layout)


@dataclass(frozen=True)
class Zone:
    name: str
    kind: ZoneKind
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Layout:
    key: str
    title: str  # English msgid; the staff UI translates it
    orientation: str  # "landscape" or "portrait"
    zones: tuple[Zone, ...]

    def zone_names(self) -> list[str]:
        return [zone.name for zone in self.zones]

    def playable_zones(self) -> list[str]:
        """Zones that play playlists (the header only shows the site name and clock; a
        queue zone always shows the board)."""
        return [z.name for z in self.zones if z.kind not in (ZoneKind.HEADER, ZoneKind.QUEUE)]


LAYOUTS: dict[str, Layout] = {
    layout.key: layout
    for layout in (
        Layout(
            "hall",
            N_("Waiting hall: header with clock, main area, side column and ticker"),
            "landscape",
            (
                Zone("header", ZoneKind.HEADER, 0, 0, 1, 0.1),
                Zone("main", ZoneKind.MAIN, 0, 0.1, 0.7, 0.8),
                Zone("side", ZoneKind.SIDE, 0.7, 0.1, 0.3, 0.8),
                Zone("ticker", ZoneKind.TICKER, 0, 0.9, 1, 0.1),
            ),
        ),
        Layout(
            "counter",
            N_("Counter-top display: main area and ticker"),
            "landscape",
            (
                Zone("main", ZoneKind.MAIN, 0, 0, 1, 0.85),
                Zone("ticker", ZoneKind.TICKER, 0, 0.85, 1, 0.15),
            ),
        ),
        Layout(
            "poster",
            N_("Portrait poster: header with clock, main area and ticker"),
            "portrait",
            (
                Zone("header", ZoneKind.HEADER, 0, 0, 1, 0.07),
                Zone("main", ZoneKind.MAIN, 0, 0.07, 1, 0.86),
                Zone("ticker", ZoneKind.TICKER, 0, 0.93, 1, 0.07),
            ),
        ),
        Layout(
            "queue",
            N_("Queue board: header with clock, the calls, waiting times and a ticker"),
            "landscape",
            (
                Zone("header", ZoneKind.HEADER, 0, 0, 1, 0.1),
                Zone("board", ZoneKind.QUEUE, 0, 0.1, 1, 0.82),
                Zone("ticker", ZoneKind.TICKER, 0, 0.92, 1, 0.08),
            ),
        ),
        Layout(
            "full",
            N_("Full screen: one area"),
            "landscape",
            (Zone("main", ZoneKind.MAIN, 0, 0, 1, 1),),
        ),
    )
}
