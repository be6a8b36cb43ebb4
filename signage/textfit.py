"""Whether a notice's texts fit the screens on one page: the staff form warns while
editing when a text needs pages even in the smallest legible type.

Measured as the headless player lays text out (players/headless/frames.py, with the fonts
the CMS serves), in the main zone of every layout at the smallest usual size of its
orientation; the browser player's CSS follows the same sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from content.layouts import LAYOUTS, ZoneKind
from content.notices import NoticeText, render_body
from content.playback import SIDE_BY_SIDE_WIDTH
from content.protocol import NoticeBody
from players.headless.frames import Painter
from players.headless.text import Fonts
from signage import fonts

SIZES = {"landscape": (1280, 720), "portrait": (1080, 1920)}


@dataclass(frozen=True)
class Overflow:
    language: str
    layout: str  # the layout's title (an English msgid)
    pages: int


@cache
def _fonts(vendor_dir: Path) -> Fonts:
    served = {}
    for font in fonts.font_files(vendor_dir).values():
        for code in font.family.languages:
            served[(code, font.weight >= 600)] = font.path
        if font.family is fonts.DEFAULT:
            served[("", font.weight >= 600)] = font.path
    return Fonts(served=served)


def overflows(texts: list[NoticeText], picture: Path | None, vendor_dir: Path) -> list[Overflow]:
    """The texts that need more than one page somewhere, with the most pages they need."""
    shown = [t for t in texts if t.title.strip() or t.body.strip()]
    notice: NoticeBody = {
        "style": "normal",
        "image": picture.name if picture else None,
        "texts": [
            {"language": t.language, "title": t.title, "html": render_body(t.body)} for t in shown
        ],
    }
    worst: dict[str, Overflow] = {}
    media = picture.parent if picture else Path("/nonexistent")
    for layout in LAYOUTS.values():
        size = SIZES[layout.orientation]
        painter = Painter(size, media, _fonts(vendor_dir))
        for zone in layout.zones:
            if zone.kind != ZoneKind.MAIN:
                continue
            wide = layout.orientation == "landscape" and zone.width >= SIDE_BY_SIDE_WIDTH
            box = painter.box(
                {
                    "name": zone.name,
                    "kind": zone.kind.value,
                    "x": zone.x,
                    "y": zone.y,
                    "width": zone.width,
                    "height": zone.height,
                }
            )
            for index, text in enumerate(shown):
                group = (shown[0].language, text.language) if wide and index else (text.language,)
                pages = painter.notice_layout(box, notice, group, smallest=True).pages
                known = worst.get(text.language)
                if pages > 1 and (known is None or pages > known.pages):
                    worst[text.language] = Overflow(text.language, layout.title, pages)
    return [worst[t.language] for t in shown if t.language in worst]
