"""Frames: what each zone shows at an instant (content/playback.py) and drawing it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PIL import Image, ImageDraw, ImageOps

from content.playback import Showing, shown_at, side_by_side
from players.headless.alerts import DRILL_MARK, AlertView
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
ALERT_BG = "#a30000"  # a takeover alert: white on deep red, as the browser player
BANNER_BG = "#b33a00"
DRILL_BG = "#ffd400"
BANNER_SHARE = 0.14  # of the height: the band of a banner alert, below the zones
# Notice type shrinks to fit its zone down to this share of its size (a body of 2.5vmin,
# as in the browser player), then the text turns pages within the item's time.
MIN_SCALE = 0.55
TITLE_SIZE, BODY_SIZE = 7.0, 4.6  # vmin, as the browser player's CSS


@dataclass(frozen=True)
class _Placed:
    y: float  # from the top of its page
    text: str
    font: FontObject
    title: bool


@dataclass(frozen=True)
class NoticeLayout:
    """A notice laid out in a zone: where its text starts and each column's pages."""

    top: float  # below the picture
    columns: tuple[tuple[float, tuple[tuple[_Placed, ...], ...]], ...]  # (x, pages)
    scale: float

    @property
    def pages(self) -> int:
        return max((len(pages) for _, pages in self.columns), default=1)


@dataclass(frozen=True)
class ZoneView:
    """What one zone shows in a frame (compared to tell whether the frame changed)."""

    zone: Mapping[str, Any]
    showing: Showing | None
    clock: str = ""  # set only when the zone shows the clock
    page: int = 0  # of a notice too long for its zone at the smallest legible size


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
    alert: AlertView | None = None  # a takeover alert: over everything
    banner: AlertView | None = None  # a banner alert: a band below the zones


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
        self._layouts: dict[tuple[Any, ...], NoticeLayout] = {}

    def stage_height(self, banner: bool = False) -> int:
        """The height the zones share: less the band of a banner alert, so the band never
        hides a zone's content (a queue call)."""
        return self.size[1] - (round(self.size[1] * BANNER_SHARE) if banner else 0)

    def box(self, zone: Mapping[str, Any], banner: bool = False) -> tuple[int, int, int, int]:
        width, height = self.size[0], self.stage_height(banner)
        return (
            round(float(zone.get("x", 0)) * width),
            round(float(zone.get("y", 0)) * height),
            round((float(zone.get("x", 0)) + float(zone.get("width", 1))) * width),
            round((float(zone.get("y", 0)) + float(zone.get("height", 1))) * height),
        )

    def paged(
        self, views: Sequence[ZoneView], manifest: Mapping[str, Any], banner: bool = False
    ) -> tuple[ZoneView, ...]:
        """The views with the page each notice shows now: its pages share the time it is
        on screen equally, so all of its text is shown."""
        result = []
        for view in views:
            notice = self._notice_of(view, manifest)
            if notice is not None and view.showing is not None and not _shows_board(view):
                box = self.box(view.zone, banner)
                pages = self.notice_layout(box, notice, view.showing.languages)
                share = max(view.showing.duration, 1.0) / pages.pages
                page = min(pages.pages - 1, int(view.showing.elapsed // share))
                view = replace(view, page=max(0, page))
            result.append(view)
        return tuple(result)

    @staticmethod
    def _notice_of(view: ZoneView, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
        item = view.showing.item if view.showing else {}
        if item.get("type") != "notice" or view.zone.get("kind") == "ticker":
            return None
        notice = manifest.get("notices", {}).get(str(item.get("notice")))
        return notice if isinstance(notice, Mapping) else None

    def paint(self, scene: Scene) -> Image.Image:
        image = Image.new("RGB", self.size, BLACK)
        draw = ImageDraw.Draw(image)
        width, height = self.size
        banner = scene.banner is not None and scene.alert is None
        stage = self.stage_height(banner)
        if scene.zones:
            for view in scene.zones:
                self._zone(image, draw, self.box(view.zone, banner), view, scene)
        elif scene.code:
            self._pairing(draw, scene.code)
        else:
            self._centered(draw, (0, 0, width, stage), [(scene.status, 5, True, WHITE)])
        if scene.call is not None:
            draw.rectangle((0, 0, width, stage), fill=IMPORTANT)
            self._centered(draw, (0, 0, width, stage), [(scene.call, 24, True, BLACK)])
        if scene.identify is not None:
            draw.rectangle((0, 0, width, stage), fill=HEADER_BG)
            self._centered(draw, (0, 0, width, stage), [(scene.identify, 12, True, WHITE)])
        if banner and scene.banner is not None:
            self._banner(draw, (0, stage, width, height), scene.banner)
        if scene.alert is not None:
            self._takeover(draw, scene.alert)
        return image

    def _takeover(self, draw: ImageDraw.ImageDraw, alert: AlertView) -> None:
        """A takeover alert over the whole screen: the drill mark, the headline, the body
        and when it was issued, in one language, as large as fits."""
        width, height = self.size
        draw.rectangle((0, 0, width, height), fill=ALERT_BG)
        top = 0
        if alert.drill:
            band = round(height * 0.16)
            draw.rectangle((0, 0, width, band), fill=DRILL_BG)
            self._centered(draw, (0, 0, width, band), [(DRILL_MARK, 9, True, BLACK)])
            top = band
        lines = [(alert.headline, 10.0, True, WHITE)]
        if alert.body:
            lines.append((alert.body, 5.6, True, WHITE))
        if alert.issued:
            lines.append((alert.issued, 4.0, True, WHITE))
        self._centered(draw, (0, top, width, height), lines, language=alert.language)

    def _banner(
        self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], alert: AlertView
    ) -> None:
        """A banner alert: one line in the band below the zones."""
        left, top, right, bottom = box
        draw.rectangle((left, top, right - 1, bottom - 1), fill=BANNER_BG)
        pad = 3 * self.unit
        x = left + pad
        middle = (top + bottom) / 2
        if alert.drill:
            mark = self.fonts.get(min(3.4 * self.unit, (bottom - top) * 0.45), bold=True)
            length, half = mark.getlength(DRILL_MARK), _size_of(mark) * 0.75
            draw.rectangle((x, middle - half, x + length + pad, middle + half), fill=DRILL_BG)
            draw.text((x + pad / 2, middle), DRILL_MARK, font=mark, fill=BLACK, anchor="lm")
            x += length + 2 * pad
        text = " ".join(f"{alert.headline}  {alert.body}  {alert.issued}".split())
        size = min(4.2 * self.unit, (bottom - top) * 0.5)
        font = self.fonts.get(size, bold=True, language=alert.language)
        line = ellipsize(text, font, right - pad - x)
        draw.text((x, middle), line, font=font, fill=WHITE, anchor="lm")

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
            self._notice(image, draw, box, notice, showing.languages, view.page)
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
        language: str = "",
    ) -> None:
        """Lines centred in `box`: (text, size in vmin, bold, colour), shrunk to fit."""
        left, top, right, bottom = box
        width, height = (right - left) * 0.92, (bottom - top) * 0.92
        scale = 1.0
        while True:
            lines: list[tuple[str, FontObject, str]] = []
            for text, size, bold, colour in texts:
                font = self.fonts.get(size * self.unit * scale, bold, language)
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
        page: int = 0,
    ) -> None:
        if notice.get("style") == "closure":
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=CLOSURE_BG)
        colour = IMPORTANT if notice.get("style") == "important" else WHITE
        picture = notice.get("image")
        if isinstance(picture, str) and SAFE_FILE.match(picture):
            _paste(image, self.media / picture, self._picture_cell(box), centre=False)
        laid = self.notice_layout(box, notice, languages)
        for x, pages in laid.columns:
            for placed in pages[min(page, len(pages) - 1)] if pages else ():
                fill = colour if placed.title else WHITE
                draw.text((x, laid.top + placed.y), placed.text, font=placed.font, fill=fill)

    def _picture_cell(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        left, top, right, bottom = self._inner(box)
        return (int(left), int(top), int(right), int(top + (bottom - top) * 0.45))

    def _inner(self, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
        pad_x, pad_y = 3 * self.unit, 2.5 * self.unit
        return box[0] + pad_x, box[1] + pad_y, box[2] - pad_x, box[3] - pad_y

    def notice_layout(
        self,
        box: tuple[int, int, int, int],
        notice: Mapping[str, Any],
        languages: Sequence[str],
        smallest: bool = False,
    ) -> NoticeLayout:
        """The notice's text in `box`: as large as fits, down to MIN_SCALE; what still does
        not fit goes on further pages (page breaks fall between lines). `smallest` lays it
        out at MIN_SCALE at once (how many pages it needs at least)."""
        texts = [
            text
            for code in languages
            for text in notice.get("texts", [])
            if text.get("language") == code
        ] or list(notice.get("texts", []))[:1]
        picture = notice.get("image")
        key = (
            box,
            smallest,
            picture,
            tuple((t.get("language"), t.get("title"), t.get("html")) for t in texts),
        )
        if key in self._layouts:
            return self._layouts[key]
        left, top, right, bottom = self._inner(box)
        if isinstance(picture, str) and SAFE_FILE.match(picture):
            reached = _fitted_bottom(self.media / picture, self._picture_cell(box))
            if reached:
                top = reached + 2 * self.unit
        height = max(1.0, bottom - top)
        gap = 3 * self.unit
        count = max(1, len(texts))
        column = (right - left - gap * (count - 1)) / count
        blocks = [
            (
                str(text.get("language", "")),
                str(text.get("title", "")),
                html_lines(str(text.get("html", ""))),
            )
            for text in texts
        ]
        sizes = (TITLE_SIZE * self.unit, BODY_SIZE * self.unit)
        # Side by side, both languages share one type size.
        scale = MIN_SCALE
        if not smallest:
            scale = min(
                (_fit_scale(self.fonts, column, height, *block, *sizes) for block in blocks),
                default=1.0,
            )
        columns = []
        for index, block in enumerate(blocks):
            placed, _ = _lay_out(self.fonts, column, *block, *sizes, scale)
            columns.append((left + index * (column + gap), _pages(placed, height)))
        laid = NoticeLayout(top, tuple(columns), scale)
        if len(self._layouts) > 64:
            self._layouts.clear()
        self._layouts[key] = laid
        return laid


def _pages(placed: list[_Placed], height: float) -> tuple[tuple[_Placed, ...], ...]:
    """Lines cut into pages of `height`, each line whole on one page."""
    pages: list[list[_Placed]] = [[]]
    offset = 0.0
    for line in placed:
        bottom = line.y - offset + _size_of(line.font) * 1.25
        if bottom > height and pages[-1]:
            pages.append([])
            offset = line.y
        pages[-1].append(replace(line, y=line.y - offset))
    return tuple(tuple(page) for page in pages)


def _counter_of(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    counter = manifest.get("queue", {}).get("counter")
    return counter if isinstance(counter, Mapping) else None


def _size_of(font: FontObject) -> float:
    return float(getattr(font, "size", 11))


def _lay_out(
    fonts: Fonts,
    width: float,
    language: str,
    title: str,
    body: list[str],
    title_size: float,
    body_size: float,
    scale: float,
) -> tuple[list[_Placed], float]:
    """A title and body as lines (top, text, font, is_title) and their height."""
    placed: list[_Placed] = []
    title_font = fonts.get(title_size * scale, bold=True, language=language)
    body_font = fonts.get(body_size * scale, language=language)
    y = 0.0
    for line in wrap(title, title_font, width):
        placed.append(_Placed(y, line, title_font, True))
        y += _size_of(title_font) * 1.25
    y += _size_of(body_font) * 0.4
    for paragraph in body:
        if not paragraph:
            y += _size_of(body_font) * 0.5
            continue
        for line in wrap(paragraph, body_font, width):
            placed.append(_Placed(y, line, body_font, False))
            y += _size_of(body_font) * 1.5
    return placed, y


def _fit_scale(
    fonts: Fonts,
    width: float,
    height: float,
    language: str,
    title: str,
    body: list[str],
    title_size: float,
    body_size: float,
) -> float:
    """How much to shrink the type for a title and body to fit: at most down to MIN_SCALE
    (what does not fit then is paged). Found by halving: a few layouts, not one per step."""

    def fits(scale: float) -> bool:
        used = _lay_out(fonts, width, language, title, body, title_size, body_size, scale)[1]
        return used <= height

    if fits(1.0):
        return 1.0
    if not fits(MIN_SCALE):
        return MIN_SCALE
    low, high = MIN_SCALE, 1.0
    for _ in range(6):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def _fitted_bottom(path: Path, box: tuple[int, int, int, int]) -> int:
    """The bottom edge a picture pasted at the top of `box` reaches (0: unreadable)."""
    left, top, right, bottom = box
    if right - left < 2 or bottom - top < 2:
        return 0
    try:
        with Image.open(path) as picture:
            size = picture.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return 0
    ratio = min((right - left) / size[0], (bottom - top) / size[1])
    return top + round(size[1] * ratio)


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
