"""Frames: what each zone shows at an instant (content/playback.py) and drawing it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PIL import Image, ImageDraw, ImageOps

from content.playback import Showing, shown_at, side_by_side
from players.headless.cache import SAFE_FILE
from players.headless.text import FontObject, Fonts, ellipsize, html_lines, wrap

log = logging.getLogger("players.headless")

BLACK = "#000000"
WHITE = "#ffffff"
IMPORTANT = "#ffd24d"
MUTED = "#9aa4b1"
HEADER_BG = "#0b4f8a"
SIDE_BG = "#101820"
TICKER_BG = "#1a1a1a"
CLOSURE_BG = "#7a0d10"


@dataclass(frozen=True)
class ZoneView:
    """What one zone shows in a frame (compared to tell whether the frame changed)."""

    zone: Mapping[str, Any]
    showing: Showing | None
    clock: str = ""  # set only when the zone shows the clock


@dataclass(frozen=True)
class Board:
    """The queue board as a small screen shows it (from the server's `queue` message)."""

    now: str | None = None  # "A-023 → 3": the latest call (of this screen's counter)
    recent: tuple[str, ...] = ()
    services: tuple[str, ...] = ()  # "A 住民票  3人待ち · 約10分"
    serving: str | None = None  # above a counter: the number it calls or serves ("A-023")


def board_view(
    board: Mapping[str, Any],
    counter: Mapping[str, Any] | None,
    calling: tuple[str, str] | None = None,
) -> Board:
    """What a board shows: the newest call (`calling`, the newest call event as its text
    and time, when it is newer than the board) and the recent ones; for a screen above a
    counter, only that counter's calls, and `now` only while the counter has a ticket."""
    calls = [
        c
        for c in board.get("calls", [])
        if isinstance(c, Mapping) and (counter is None or c.get("counter_id") == counter.get("id"))
    ]
    lines = [f"{c.get('label')} → {c.get('counter')}" for c in calls]
    languages = list(board.get("languages", ["ja"]))[:1] or ["ja"]
    texts = board.get("texts", {}).get(languages[0], {})
    services = []
    if counter is None:
        for s in board.get("services", []):
            waiting = str(texts.get("waiting", "{n}")).replace("{n}", str(s.get("waiting", 0)))
            wait = str(texts.get("about_minutes", "{n}")).replace("{n}", str(s.get("wait_minutes")))
            name = s.get("names", {}).get(languages[0], "")
            services.append(
                f"{s.get('prefix')} {name}  {waiting}" + (f" · {wait}" if s.get("waiting") else "")
            )
    if counter is not None:
        # Above a counter: the number it serves (docs/protocol.md), else nothing.
        mine = [
            c
            for c in board.get("counters", [])
            if isinstance(c, Mapping) and c.get("id") == counter.get("id")
        ]
        current = mine[0].get("current") if mine else None
        served = f"{current} → {mine[0].get('number')}" if current else None
        now = calling[0] if calling else served
        label = calling[0].split(" → ", 1)[0] if calling else current
        recent = tuple(line for line in lines if line != now)[:4]
        return Board(now, recent, (), str(label) if now and label else None)
    newest_at = str(calls[0].get("at") or "") if calls else ""
    newer = calling is not None and (not calls or _later_or_same(calling[1], newest_at))
    now = calling[0] if calling and newer else (lines[0] if lines else None)
    return Board(now, tuple(line for line in lines if line != now)[:4], tuple(services))


def _later_or_same(first: str, second: str) -> bool:
    try:
        return datetime.fromisoformat(first) >= datetime.fromisoformat(second)
    except ValueError:
        return True


@dataclass(frozen=True)
class Scene:
    """Everything a frame shows; equal scenes draw equal frames."""

    version: int
    zones: tuple[ZoneView, ...] = ()
    code: str | None = None
    identify: str | None = None
    status: str = ""
    generation: int = 0
    call: str | None = None  # a queue call shown over everything: "A-023 → 3"
    board: Board | None = None
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False)


def describe(view: ZoneView, manifest: Mapping[str, Any], board: Board | None = None) -> str:
    """A short text for what a zone shows (heartbeats, logs, tests)."""
    if view.zone.get("kind") == "header":
        return "clock"
    if _shows_board(view):
        return "queue board"
    if _shows_serving(view, manifest, board):
        return f"serving {board.serving if board else ''}"[:120]
    showing = view.showing
    if showing is None:
        return "idle"
    item = showing.item
    kind = str(item.get("type"))
    if kind == "notice":
        notice = manifest.get("notices", {}).get(str(item.get("notice")), {})
        titles = [
            text.get("title", "")
            for code in showing.languages
            for text in notice.get("texts", [])
            if text.get("language") == code
        ]
        languages = "+".join(showing.languages)
        return f"notice {item.get('notice')} {languages}: {' / '.join(titles)}"[:120]
    if kind == "image":
        return f"image {item.get('file')}"[:120]
    if kind == "ticker":
        return f"ticker: {item.get('text', '')}"[:120]
    return kind[:120]


def _shows_board(view: ZoneView) -> bool:
    return view.zone.get("kind") == "queue" or (
        view.showing is not None and view.showing.item.get("type") == "queue_board"
    )


def shows_board(views: Sequence[ZoneView]) -> bool:
    """Whether a queue board is in view (it highlights calls itself)."""
    return any(_shows_board(view) for view in views)


def _shows_serving(view: ZoneView, manifest: Mapping[str, Any], board: Board | None) -> bool:
    """The main area above a counter while the counter has a ticket: its number."""
    return (
        view.zone.get("kind") == "main"
        and _counter_of(manifest) is not None
        and board is not None
        and board.now is not None
    )


def clock_text(at: datetime, manifest: Mapping[str, Any]) -> str:
    try:
        zone = ZoneInfo(str(manifest.get("site", {}).get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%H:%M")


def zone_views(manifest: Mapping[str, Any], at: datetime) -> tuple[ZoneView, ...]:
    """What each zone of the manifest's layout shows at `at` (content/playback.py's rule)."""
    layout = manifest.get("layout", {})
    orientation = str(layout.get("orientation", "landscape"))
    notices = manifest.get("notices", {})
    views = []
    for zone in layout.get("zones", []):
        name, kind = zone.get("name"), zone.get("kind")
        if kind == "header":
            views.append(ZoneView(zone, None, clock_text(at, manifest)))
            continue
        if kind == "queue":
            views.append(ZoneView(zone, None))
            continue
        showing = shown_at(
            manifest.get("timeline", {}).get(name, []),
            manifest.get("fallback", {}).get(name, []),
            at,
            notices=notices,
            wide=side_by_side(zone, orientation),
        )
        item_type = showing.item.get("type") if showing else None
        shows_clock = item_type == "clock" or (showing is None and kind != "ticker")
        views.append(ZoneView(zone, showing, clock_text(at, manifest) if shows_clock else ""))
    return tuple(views)


class Painter:
    """Draws scenes with Pillow: black stage, zones as in the browser player."""

    def __init__(self, size: tuple[int, int], media: Path, fonts: Fonts | None = None) -> None:
        self.size = size
        self.media = media
        self.fonts = fonts or Fonts()
        self.unit = min(size) / 100  # 1vmin, as the browser player's CSS measures

    def paint(self, scene: Scene) -> Image.Image:
        image = Image.new("RGB", self.size, BLACK)
        draw = ImageDraw.Draw(image)
        width, height = self.size
        if scene.zones:
            for view in scene.zones:
                zone = view.zone
                box = (
                    round(float(zone.get("x", 0)) * width),
                    round(float(zone.get("y", 0)) * height),
                    round((float(zone.get("x", 0)) + float(zone.get("width", 1))) * width),
                    round((float(zone.get("y", 0)) + float(zone.get("height", 1))) * height),
                )
                self._zone(image, draw, box, view, scene)
        elif scene.code:
            self._pairing(draw, scene.code)
        else:
            self._centered(draw, (0, 0, width, height), [(scene.status, 5, True, WHITE)])
        if scene.call is not None:
            draw.rectangle((0, 0, width, height), fill=IMPORTANT)
            self._centered(draw, (0, 0, width, height), [(scene.call, 24, True, BLACK)])
        if scene.identify is not None:
            draw.rectangle((0, 0, width, height), fill=HEADER_BG)
            self._centered(draw, (0, 0, width, height), [(scene.identify, 12, True, WHITE)])
        return image

    def _zone(
        self,
        image: Image.Image,
        draw: ImageDraw.ImageDraw,
        box: tuple[int, int, int, int],
        view: ZoneView,
        scene: Scene,
    ) -> None:
        manifest = scene.manifest
        kind, showing = view.zone.get("kind"), view.showing
        if _shows_board(view) or _shows_serving(view, manifest, scene.board):
            # A board, or the main area of a screen above a counter: the number it serves.
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=SIDE_BG)
            self._board(draw, box, scene.board or Board())
            return
        site = str(manifest.get("site", {}).get("name", ""))
        background = {"header": HEADER_BG, "ticker": TICKER_BG, "side": SIDE_BG}.get(str(kind))
        if background:
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=background)
        if kind == "header":
            self._header(draw, box, site, view.clock)
            return
        item = showing.item if showing else {}
        notice = manifest.get("notices", {}).get(str(item.get("notice")))
        if kind == "ticker":
            text = str(item.get("text", "")) if item.get("type") == "ticker" else site
            self._ticker(draw, box, text or site)
        elif showing and item.get("type") == "notice" and isinstance(notice, Mapping):
            self._notice(image, draw, box, notice, showing.languages)
        elif showing and item.get("type") == "image" and self._picture(image, box, item):
            pass
        elif view.clock and showing:  # a clock item
            self._centered(draw, box, [(view.clock, 14 if kind == "main" else 9, True, WHITE)])
        elif view.clock:  # nothing to show here now: never a blank area, the time and site
            big = 14 if kind == "main" else 9
            self._centered(draw, box, [(view.clock, big, True, WHITE), (site, 4, False, MUTED)])
        else:  # a picture that cannot be read
            self._centered(draw, box, [(site, 6, True, WHITE)])

    def _board(
        self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], board: Board
    ) -> None:
        left, top, right, bottom = box
        if not board.recent and not board.services:
            self._centered(draw, box, [(board.now or "—", 20, True, WHITE)])
            return
        split = top + (bottom - top) * 0.45
        self._centered(
            draw, (left, top, right, int(split)), [(board.now or "—", 16, True, IMPORTANT)]
        )
        lines: list[tuple[str, float, bool, str]] = []
        if board.recent:
            lines.append(("   ".join(board.recent), 6, True, WHITE))
        lines += [(line, 3.6, False, WHITE) for line in board.services]
        self._centered(draw, (left, int(split), right, bottom), lines)

    def _header(
        self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], site: str, clock: str
    ) -> None:
        left, top, right, bottom = box
        pad = 3 * self.unit
        font = self.fonts.get(min(4 * self.unit, (bottom - top) * 0.6), bold=True)
        clock_width = font.getlength(clock)
        middle = (top + bottom) / 2
        draw.text((right - pad, middle), clock, font=font, fill=WHITE, anchor="rm")
        name = ellipsize(site, font, right - left - 3 * pad - clock_width)
        draw.text((left + pad, middle), name, font=font, fill=WHITE, anchor="lm")

    def _ticker(self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str) -> None:
        left, top, right, bottom = box
        pad = 3 * self.unit
        size = min(4.2 * self.unit, (bottom - top) * 0.6)
        line = " ".join(text.split())
        font = self.fonts.get(size, bold=True)
        while size > 2 * self.unit and font.getlength(line) > right - left - 2 * pad:
            size *= 0.9
            font = self.fonts.get(size, bold=True)
        line = ellipsize(line, font, right - left - 2 * pad)
        draw.text((left + pad, (top + bottom) / 2), line, font=font, fill=WHITE, anchor="lm")

    def _centered(
        self,
        draw: ImageDraw.ImageDraw,
        box: tuple[int, int, int, int],
        texts: Sequence[tuple[str, float, bool, str]],
    ) -> None:
        """Lines centred in `box`: (text, size in vmin, bold, colour), shrunk to fit."""
        left, top, right, bottom = box
        width, height = (right - left) * 0.92, (bottom - top) * 0.92
        scale = 1.0
        while True:
            lines: list[tuple[str, FontObject, str]] = []
            for text, size, bold, colour in texts:
                font = self.fonts.get(size * self.unit * scale, bold)
                lines += [(line, font, colour) for line in wrap(text, font, width) if line]
            total = sum(_size_of(font) * 1.25 for _, font, _ in lines)
            if total <= height or scale < 0.2:
                break
            scale *= 0.85
        y = top + (bottom - top - total) / 2
        for line, font, colour in lines:
            step = _size_of(font) * 1.25
            draw.text(((left + right) / 2, y + step / 2), line, font=font, fill=colour, anchor="mm")
            y += step

    def _pairing(self, draw: ImageDraw.ImageDraw, code: str) -> None:
        width, height = self.size
        self._centered(
            draw,
            (0, 0, width, height),
            [
                ("この画面を登録してください / Pair this screen", 4, False, WHITE),
                (code, 18, True, IMPORTANT),
                (
                    "管理画面の「稼働状況 → 画面を登録」でこのコードを入力してください。"
                    "\nEnter this code in the CMS under Fleet → Pair a screen.",
                    2.6,
                    False,
                    MUTED,
                ),
            ],
        )

    def _picture(
        self, image: Image.Image, box: tuple[int, int, int, int], item: Mapping[str, Any]
    ) -> bool:
        name = str(item.get("file", ""))
        return bool(SAFE_FILE.match(name) and _paste(image, self.media / name, box))

    def _notice(
        self,
        image: Image.Image,
        draw: ImageDraw.ImageDraw,
        box: tuple[int, int, int, int],
        notice: Mapping[str, Any],
        languages: Sequence[str],
    ) -> None:
        if notice.get("style") == "closure":
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=CLOSURE_BG)
        colour = IMPORTANT if notice.get("style") == "important" else WHITE
        pad_x, pad_y = 3 * self.unit, 2.5 * self.unit
        left, top, right, bottom = box[0] + pad_x, box[1] + pad_y, box[2] - pad_x, box[3] - pad_y
        picture = notice.get("image")
        if isinstance(picture, str) and SAFE_FILE.match(picture):
            cell = (int(left), int(top), int(right), int(top + (bottom - top) * 0.45))
            reached = _paste(image, self.media / picture, cell, centre=False)
            if reached:
                top = reached + 2 * self.unit
        texts = [
            text
            for code in languages
            for text in notice.get("texts", [])
            if text.get("language") == code
        ] or list(notice.get("texts", []))[:1]
        if not texts:
            return
        gap = 3 * self.unit
        column = (right - left - gap * (len(texts) - 1)) / len(texts)
        blocks = [
            (str(text.get("title", "")), html_lines(str(text.get("html", "")))) for text in texts
        ]
        sizes = (7 * self.unit, 4.6 * self.unit)
        # Side by side, both languages share one type size.
        scale = min(_fit_scale(self.fonts, column, bottom - top, *b, *sizes) for b in blocks)
        for index, (title, body) in enumerate(blocks):
            x = left + index * (column + gap)
            placed, _ = _lay_out(self.fonts, column, title, body, *sizes, scale)
            for y, line, font, is_title in placed:
                if y + _size_of(font) * 1.2 <= bottom - top:
                    fill = colour if is_title else WHITE
                    draw.text((x, top + y), line, font=font, fill=fill)


def _counter_of(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    counter = manifest.get("queue", {}).get("counter")
    return counter if isinstance(counter, Mapping) else None


def _size_of(font: FontObject) -> float:
    return float(getattr(font, "size", 11))


def _lay_out(
    fonts: Fonts,
    width: float,
    title: str,
    body: list[str],
    title_size: float,
    body_size: float,
    scale: float,
) -> tuple[list[tuple[float, str, FontObject, bool]], float]:
    """A title and body as lines (top, text, font, is_title) and their height."""
    placed: list[tuple[float, str, FontObject, bool]] = []
    title_font = fonts.get(title_size * scale, bold=True)
    body_font = fonts.get(body_size * scale)
    y = 0.0
    for line in wrap(title, title_font, width):
        placed.append((y, line, title_font, True))
        y += _size_of(title_font) * 1.25
    y += _size_of(body_font) * 0.4
    for paragraph in body:
        if not paragraph:
            y += _size_of(body_font) * 0.5
            continue
        for line in wrap(paragraph, body_font, width):
            placed.append((y, line, body_font, False))
            y += _size_of(body_font) * 1.5
    return placed, y


def _fit_scale(
    fonts: Fonts,
    width: float,
    height: float,
    title: str,
    body: list[str],
    title_size: float,
    body_size: float,
) -> float:
    """How much to shrink the type for a title and body to fit (what still does not fit
    at a third of the size is cut off)."""
    scale = 1.0
    while scale > 0.35:
        if _lay_out(fonts, width, title, body, title_size, body_size, scale)[1] <= height:
            break
        scale *= 0.88
    return scale


def _paste(
    image: Image.Image, path: Path, box: tuple[int, int, int, int], centre: bool = True
) -> int:
    """Paste the picture at `path` fitted inside `box`; the bottom edge it reached, or 0
    when the file cannot be read."""
    left, top, right, bottom = box
    if right - left < 2 or bottom - top < 2:
        return 0
    try:
        with Image.open(path) as picture:
            picture.seek(0)  # an animation shows its first frame
            fitted = ImageOps.contain(picture.convert("RGBA"), (right - left, bottom - top))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        log.warning("cannot show %s: %s", path.name, error)
        return 0
    x = left + (right - left - fitted.width) // 2 if centre else left
    y = top + (bottom - top - fitted.height) // 2 if centre else top
    image.paste(fitted, (x, y), fitted)
    return y + fitted.height
