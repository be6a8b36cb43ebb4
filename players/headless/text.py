"""Text for small screens: notice bodies as plain lines, wrapping CJK and Latin text by
width, fonts (the CMS's font for each language, else a Japanese one when installed) and
the pairing code for terminals."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from PIL import Image, ImageDraw, ImageFont

from content.fonts import find_cjk_font, japanese_face
from content.protocol import FontEntry

# Characters a line must not start with (Japanese line-breaking rules, kinsoku).
_NO_LINE_START = frozenset(
    "、。，．,.:;!?！？)]}）」』】〕〉》ー…ゃゅょっャュョッぁぃぅぇぉァィゥェォ"
)


class _BodyText(HTMLParser):
    """The notice body's restricted HTML (p, br, strong, ul, ol, li) as plain lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._lists: list[list[int]] = []  # per open list: [ordered, next number]

    def _end_line(self) -> None:
        text = "".join(self._line).strip()
        if text:
            self.lines.append(text)
        self._line = []

    def _gap(self) -> None:
        self._end_line()
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "ul", "ol") and not self._lists:
            self._gap()
        if tag == "br":
            self._end_line()
        elif tag in ("ul", "ol"):
            self._lists.append([tag == "ol", 1])
        elif tag == "li":
            self._end_line()
            if self._lists and self._lists[-1][0]:
                self._line.append(f"{self._lists[-1][1]}. ")
                self._lists[-1][1] += 1
            else:
                self._line.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        if tag in ("p", "ul", "ol", "li"):
            self._end_line()

    def handle_data(self, data: str) -> None:
        self._line.append(" ".join(data.split()) if not data.strip() else data.replace("\n", " "))


def html_lines(html: str) -> list[str]:
    """Plain lines of a notice body; "" between paragraphs, "• " before list items."""
    parser = _BodyText()
    parser.feed(html)
    parser.close()
    parser._end_line()
    while parser.lines and not parser.lines[-1]:
        parser.lines.pop()
    return parser.lines


class _Font(Protocol):
    def getlength(self, text: str, *args: Any, **kwargs: Any) -> float: ...


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


# A virama (Devanagari) or a Myanmar stacker/asat joins the next letter into one cluster.
_JOINS_NEXT = frozenset("\u094d\u1039\u200d")


def _inseparable(line: str, char: str) -> bool:
    """Whether `char` must stay on the line before it: a combining vowel sign or tone mark
    (Thai, Devanagari, Myanmar, Vietnamese), a joiner, or the letter after a virama."""
    return (
        unicodedata.category(char).startswith("M")
        or char in "\u200c\u200d"
        or line[-1] in _JOINS_NEXT
    )


def _break_point(line: str) -> int:
    """Where a line that ends inside a word may break: after its last space or wide char."""
    for index in range(len(line) - 1, 0, -1):
        if line[index].isspace() or _wide(line[index]):
            return index + 1
    return 0


def _cluster_start(line: str, cut: int) -> int:
    """`cut` moved back to the start of the letter cluster it falls in (0: none)."""
    while 0 < cut < len(line) and _inseparable(line[:cut], line[cut]):
        cut -= 1
    return cut


def _longest_fit(font: _Font, text: str, width: float) -> int:
    """How many characters of `text` fit in `width` (at least one), by halving."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def wrap(text: str, font: _Font, width: float) -> list[str]:
    """Lines no wider than `width`: between words, or between any two CJK characters
    (Japanese has no spaces), never starting a line with closing punctuation or inside a
    letter cluster. Each line is found by halving, so long texts lay out quickly."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        rest = paragraph
        while True:
            if not rest or font.getlength(rest) <= width:
                lines.append(rest.rstrip())
                break
            end = _longest_fit(font, rest, width)
            while end < len(rest) and _inseparable(rest[:end], rest[end]):
                end += 1  # a line never ends inside a letter cluster
            if end >= len(rest):
                lines.append(rest.rstrip())
                break
            line, char = rest[:end], rest[end]
            if char in _NO_LINE_START:
                lines.append(line + char)  # hangs past the edge rather than starting a line
                rest = rest[end + 1 :].lstrip()
            elif char.isspace():
                lines.append(line.rstrip())
                rest = rest[end + 1 :]
            elif not _wide(char) and not _wide(line[-1]) and not line[-1].isspace():
                cut = _cluster_start(line, _break_point(line))  # before the word, if it can
                lines.append(line[:cut].rstrip() if cut else line)
                rest = rest[cut:].lstrip() if cut else rest[end:]
            else:
                lines.append(line.rstrip())
                rest = rest[end:]
    return lines


def ellipsize(text: str, font: _Font, width: float) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


# --- fonts ------------------------------------------------------------------------------

FontObject: TypeAlias = ImageFont.FreeTypeFont | ImageFont.ImageFont


class Fonts:
    """Fonts by pixel size and language: the CMS's font for the language (fetched with its
    index, `fonts` in the cache), else its default font, else a CJK font installed here,
    else Pillow's default."""

    def __init__(
        self,
        regular: Path | None = None,
        bold: Path | None = None,
        *,
        folder: Path | None = None,
        index: Sequence[FontEntry] = (),
        served: Mapping[tuple[str, bool], Path] | None = None,
    ) -> None:
        self.paths = {False: regular or find_cjk_font(False), True: bold or find_cjk_font(True)}
        self.faces = {b: japanese_face(p) if p else 0 for b, p in self.paths.items()}
        # (language or "" for the default font, bold) -> a file fetched from the CMS
        self.index = list(index)
        self.served: dict[tuple[str, bool], Path] = {}
        for entry in index:
            if folder is None:
                break
            path = folder / entry["file"]
            bold_face = entry["weight"] >= 600
            for code in [*entry["languages"], *([""] if entry["default"] else [])]:
                self.served[(code, bold_face)] = path
        self.served.update(served or {})  # (language or "", bold) -> a file given directly
        self._cache: dict[tuple[int, bool, str], FontObject] = {}

    def path_for(self, bold: bool, language: str = "") -> tuple[Path | None, int]:
        """The font file (and face index) text in `language` is drawn with."""
        for key in ((language, bold), (language, not bold), ("", bold), ("", not bold)):
            if key in self.served and self.served[key].is_file():
                return self.served[key], 0
        return self.paths[bold], self.faces[bold]

    def get(self, size: float, bold: bool = False, language: str = "") -> FontObject:
        key = (max(8, int(size)), bold, language)
        if key not in self._cache:
            path, face = self.path_for(bold, language)
            try:
                if path is None:
                    raise OSError("no font")
                font: FontObject = ImageFont.truetype(path, key[0], index=face)
            except OSError:
                font = ImageFont.load_default(key[0])
            self._cache[key] = font
        return self._cache[key]


def banner(code: str, fonts: Fonts | None = None, height: int = 16) -> str:
    """`code` in large type for a terminal, drawn with block characters."""
    font = (fonts or Fonts()).get(height, bold=True)
    width = int(font.getlength(code)) + 2
    image = Image.new("L", (width, height * 2), 0)
    ImageDraw.Draw(image).text((1, 0), code, font=font, fill=255)
    box = image.getbbox()
    if box is None:
        return code
    image = image.crop((0, box[1], width, box[3] + 1))
    ink = [value > 110 for value in image.tobytes()]
    rows = []
    for y in range(0, image.height, 2):
        row = ""
        for x in range(image.width):
            top = ink[y * width + x]
            bottom = y + 1 < image.height and ink[(y + 1) * width + x]
            row += "█" if top and bottom else "▀" if top else "▄" if bottom else " "
        rows.append(row.rstrip())
    return "\n".join(rows)
