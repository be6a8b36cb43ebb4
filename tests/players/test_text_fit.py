"""The headless player: every script a notice can be written in is drawn with the CMS's
fonts (no missing glyph, complex scripts shaped), and a notice always fits its zone:
smaller type down to a legible minimum, then pages within the item's time."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from content.languages import LANGUAGES
from content.layouts import LAYOUTS
from content.notices import render_body
from content.playback import Showing, side_by_side
from content.protocol import read_manifest
from players.headless import Options, Player
from players.headless.cache import MediaError, fetch_fonts
from players.headless.frames import MIN_SCALE, Painter, ZoneView
from players.headless.text import Fonts, html_lines
from signage import fonts as served
from signage.demo import _poster, tax_notice_texts
from signage.settings import PROJECT_ROOT

from ..conftest import LiveServer

# One line in each language a notice can be written in.
SAMPLES = {
    "ja": "市役所の窓口は9時から開きます",
    "en": "The office opens at 9 a.m.",
    "zh-Hans": "市政府窗口九点开门",
    "zh-Hant": "市政府窗口九點開門",
    "ko": "시청 창구는 9시에 엽니다",
    "pt": "A prefeitura abre às 9h",
    "vi": "Ủy ban mở cửa lúc 9 giờ",
    "es": "El ayuntamiento abre a las 9",
    "tl": "Bukas ang munisipyo sa alas-9",
    "ne": "नगरपालिकाको कार्यालय ९ बजे खुल्छ",
    "id": "Kantor kota buka pukul 9",
    "th": "สำนักงานเทศบาลเปิดเวลา 9 นาฬิกา",
    "my": "မြို့တော်ရုံး ၉ နာရီတွင် ဖွင့်သည်",
}
MAIN = {"name": "main", "kind": "main", "x": 0, "y": 0, "width": 1, "height": 1}
SIZES = {"landscape": [(1920, 1080), (1280, 720)], "portrait": [(1080, 1920)]}


def _drawn(font: ImageFont.FreeTypeFont, text: str) -> bytes:
    size = int(font.size)
    image = Image.new("L", (size * (len(text) + 2), size * 3))
    ImageDraw.Draw(image).text((size, size), text, font=font, fill=255)
    return image.tobytes()


def test_every_language_is_drawn_with_the_cms_fonts_without_tofu_and_shaped(
    live_server: LiveServer, tmp_path: Path
) -> None:
    assert set(SAMPLES) == set(LANGUAGES)
    folder = tmp_path / "fonts"
    index = fetch_fonts(live_server.url, folder, set(LANGUAGES))
    assert {code for entry in index for code in entry["languages"]} == set(LANGUAGES)
    fonts = Fonts(folder=folder, index=index)
    for code, text in SAMPLES.items():
        path, _ = fonts.path_for(False, code)
        assert path is not None and path.parent == folder, code
        # No glyph is the font's .notdef box (drawn one by one, without shaping).
        basic = ImageFont.truetype(path, 40, layout_engine=ImageFont.Layout.BASIC)
        tofu = _drawn(basic, "\U0010fffd")
        missing = [c for c in text if not c.isspace() and _drawn(basic, c) == tofu]
        assert not missing, f"{code}: no glyph for {missing}"
        line = fonts.get(40, language=code)
        assert isinstance(line, ImageFont.FreeTypeFont)
        assert line.layout_engine == ImageFont.Layout.RAQM
        if code in ("ne", "th", "my"):
            # Complex scripts are shaped: marks placed, letters reordered and joined.
            assert _drawn(line, text) != _drawn(basic, text), code
    # A conjunct is one glyph, narrower than its letters and the virama side by side.
    devanagari = fonts.get(40, language="ne")
    assert devanagari.getlength("क्ष") < sum(devanagari.getlength(c) for c in "क्ष") * 0.8

    # Fetched like media: verified by SHA-256, a damaged file is fetched again.
    damaged = folder / index[0]["file"]
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    fetch_fonts(live_server.url, folder, set(LANGUAGES))
    assert damaged.read_bytes()[:4] in (b"\0\1\0\0", b"OTTO", b"true")
    with pytest.raises(MediaError):
        fetch_fonts("http://127.0.0.1:9", folder, {"th"}, timeout=2)


def test_the_player_fetches_the_fonts_of_a_new_manifest_and_draws_with_them(
    live_server: LiveServer, tmp_path: Path
) -> None:
    player = Player(Options(server=live_server.url, cache=tmp_path / "cache", size=(640, 360)))
    manifest = {
        "site": {"name": "本庁舎", "timezone": "Asia/Tokyo", "languages": ["ja", "th"]},
        "layout": {"key": "full", "orientation": "landscape", "zones": [MAIN]},
        "timeline": {},
        "fallback": {"main": [{"type": "notice", "notice": 1, "duration": 10}]},
        "notices": {
            "1": {
                "style": "normal",
                "image": None,
                "texts": [{"language": "th", "title": "ประกาศ", "html": f"<p>{SAMPLES['th']}</p>"}],
            }
        },
        "media": [],
    }
    assert player.painter.fonts.path_for(False, "th")[0] != tmp_path / "cache" / "fonts"
    assert asyncio.run(player.offer_manifest(1, read_manifest(manifest)))
    path, _ = player.painter.fonts.path_for(False, "th")
    assert path == tmp_path / "cache" / "fonts" / "NotoSansThai_400Regular.ttf"
    assert {p.name for p in (tmp_path / "cache" / "fonts").iterdir()} >= {
        "NotoSansThai_400Regular.ttf",
        "NotoSansJP_400Regular.ttf",
        "index.json",
    }
    assert player.render()
    assert player.frame is not None and player.frame.getbbox() is not None
    # After a restart, the fonts come from the cache (the server may be down).
    again = Player(Options(server="http://127.0.0.1:9", cache=tmp_path / "cache", size=(640, 360)))
    assert again.painter.fonts.path_for(True, "th")[0] == path.with_name("NotoSansThai_700Bold.ttf")


def _served_fonts(tmp_path: Path) -> Fonts:
    """The fonts the CMS serves, in one folder as the player keeps them."""
    folder = tmp_path / "fonts"
    folder.mkdir()
    files = served.font_files(PROJECT_ROOT / "node_modules")
    assert files, "npm ci installs the fonts (scripts/setup)"
    for name, font in files.items():
        (folder / name).symlink_to(font.path)
    return Fonts(folder=folder, index=served.index(PROJECT_ROOT / "node_modules")["fonts"])


def _notice(texts: list[Any], picture: str | None) -> dict[str, Any]:
    return {
        "style": "important",
        "image": picture,
        "texts": [
            {"language": t.language, "title": t.title, "html": render_body(t.body)} for t in texts
        ],
    }


def _groups(codes: list[str], wide: bool) -> list[tuple[str, ...]]:
    return [(codes[0], other) for other in codes[1:]] if wide else [(code,) for code in codes]


def _squeeze(text: str) -> str:
    return re.sub(r"\s+|•", "", text)


@pytest.mark.parametrize("long", [False, True], ids=["demo", "five-times-longer"])
def test_the_demos_longest_notice_fits_every_layout_in_pages_that_show_all_of_it(
    tmp_path: Path, long: bool
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "calendar.png").write_bytes(_poster("calendar"))
    texts = tax_notice_texts(date(2026, 12, 10))
    if long:  # far more than fits: smallest legible type, then pages
        texts = [replace(t, body="\n\n".join([t.body] * 5)) for t in texts]
    notice = _notice(texts, "calendar.png")
    fonts = _served_fonts(tmp_path)
    paged = False
    for layout in LAYOUTS.values():
        for size in SIZES[layout.orientation]:
            painter = Painter(size, media, fonts)
            for zone in layout.zones:
                if zone.kind not in ("main", "side"):
                    continue
                box = painter.box(zone.__dict__ | {"kind": zone.kind.value})
                wide = side_by_side({"kind": zone.kind.value, "width": zone.width}, "landscape")
                wide = wide and layout.orientation == "landscape"
                codes = [t["language"] for t in notice["texts"]]
                for group in _groups(codes, wide):
                    where = f"{layout.key} {size} {zone.name} {group}"
                    laid = painter.notice_layout(box, notice, group)
                    assert laid.scale >= MIN_SCALE - 1e-9, where
                    height = box[3] - painter.unit * 2.5 - laid.top
                    for index, (x, pages) in enumerate(laid.columns):
                        shown = []
                        for page in pages:
                            for line in page:
                                bottom = line.y + getattr(line.font, "size", 0) * 1.25
                                assert bottom <= height + 0.5, f"{where}: {line.text!r} overflows"
                                assert x + line.font.getlength(line.text) <= box[2], where
                                shown.append(line.text)
                        text = next(t for t in notice["texts"] if t["language"] == group[index])
                        whole = text["title"] + "".join(html_lines(text["html"]))
                        assert _squeeze("".join(shown)) == _squeeze(whole), where
                    # The pages share the item's time: each is shown in turn.
                    showing = Showing({"type": "notice", "notice": 1, "duration": 15}, group)
                    view = ZoneView(zone.__dict__ | {"kind": zone.kind.value}, showing)
                    seen = set()
                    for tenth in range(150):
                        at = Showing(showing.item, group, tenth / 10, 15.0)
                        manifest = {"notices": {"1": notice}}
                        seen.add(painter.paged([ZoneView(view.zone, at)], manifest)[0].page)
                    assert seen == set(range(laid.pages)), where
                    paged = paged or laid.pages > 1
                    if not long:
                        assert laid.pages == 1, f"{where}: the demo's notice fits on one page"
    assert paged == long
