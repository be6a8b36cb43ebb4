"""The fonts the CMS serves to screens and the staff UI: one Noto family per script, for
every language a notice can be written in (content/languages.py).

They come from pinned npm packages (package.json, installed by `npm ci` in scripts/setup)
as plain TrueType files, which browsers and the headless player's Pillow both read. The
browser gets them through `/fonts/fonts.css`; the headless player reads `/fonts/index.json`
(each file with its languages, size and SHA-256) and fetches what its manifest needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from content.languages import LANGUAGES
from content.protocol import FontEntry, FontIndex

WEIGHTS = {400: "400Regular", 700: "700Bold"}


@dataclass(frozen=True)
class Family:
    """One script's font: its CSS family name, npm package and the languages it shows."""

    family: str
    package: str  # under node_modules/@expo-google-fonts/
    stem: str  # file names: <stem>_400Regular.ttf, <stem>_700Bold.ttf
    languages: tuple[str, ...]
    # Characters the browser may fetch the file for (CSS unicode-range); None: any.
    unicode_range: str | None

    def file(self, weight: int) -> str:
        return f"{self.stem}_{WEIGHTS[weight]}.ttf"


_CJK = (
    "U+0000-00FF, U+2000-2BFF, U+2E80-9FFF, U+A960-A97F, U+AC00-D7FF, U+F900-FAFF, "
    "U+FE30-FE4F, U+FF00-FFEF, U+1100-11FF, U+20000-2FFFF"
)
_JOINERS = "U+200C-200D, U+25CC"

FAMILIES: tuple[Family, ...] = (
    Family(
        "Signage Latin",
        "noto-sans",
        "NotoSans",
        ("en", "pt", "vi", "es", "tl", "id"),
        "U+0000-024F, U+0300-036F, U+1E00-1EFF, U+2000-206F, U+20A0-20CF, U+2100-214F",
    ),
    Family("Signage JP", "noto-sans-jp", "NotoSansJP", ("ja",), _CJK),
    Family("Signage SC", "noto-sans-sc", "NotoSansSC", ("zh-Hans",), _CJK),
    Family("Signage TC", "noto-sans-tc", "NotoSansTC", ("zh-Hant",), _CJK),
    Family("Signage KR", "noto-sans-kr", "NotoSansKR", ("ko",), _CJK),
    Family(
        "Signage Devanagari",
        "noto-sans-devanagari",
        "NotoSansDevanagari",
        ("ne",),
        f"U+0900-097F, U+A8E0-A8FF, U+1CD0-1CFF, {_JOINERS}",
    ),
    Family("Signage Thai", "noto-sans-thai", "NotoSansThai", ("th",), f"U+0E00-0E7F, {_JOINERS}"),
    Family(
        "Signage Myanmar",
        "noto-sans-myanmar",
        "NotoSansMyanmar",
        ("my",),
        f"U+1000-109F, U+A9E0-A9FF, U+AA60-AA7F, {_JOINERS}",
    ),
)
BY_LANGUAGE = {code: family for family in FAMILIES for code in family.languages}
assert set(BY_LANGUAGE) == set(LANGUAGES), "every language a notice offers needs a font"
# Text in no particular language (site names, tickers, the staff UI) and Japanese.
DEFAULT = BY_LANGUAGE["ja"]


@dataclass(frozen=True)
class FontFile:
    name: str
    path: Path
    family: Family
    weight: int


def font_files(vendor_dir: Path) -> dict[str, FontFile]:
    """Every font file by its name (those npm installed; none when it did not run)."""
    files = {}
    for family in FAMILIES:
        for weight, folder in WEIGHTS.items():
            name = family.file(weight)
            path = vendor_dir / "@expo-google-fonts" / family.package / folder / name
            if path.is_file():
                files[name] = FontFile(name, path, family, weight)
    return files


@cache
def _digest(path: Path, size: int, mtime: float) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def index(vendor_dir: Path) -> FontIndex:
    """What /fonts/index.json says: each file with its family, weight, languages, size and
    SHA-256, so a player can fetch the ones it needs and verify them."""
    entries: list[FontEntry] = []
    for font in font_files(vendor_dir).values():
        stat = font.path.stat()
        entries.append(
            {
                "file": font.name,
                "family": font.family.family,
                "weight": font.weight,
                "languages": list(font.family.languages),
                "default": font.family is DEFAULT,
                "size": stat.st_size,
                "sha256": _digest(font.path, stat.st_size, stat.st_mtime),
            }
        )
    return {"fonts": entries}


def _stack(first: Family) -> str:
    """A font-family list: `first`, then every other script, then the system's."""
    order = [first, *(f for f in FAMILIES if f is not first and f.family not in _HAN_VARIANTS)]
    if first.family in _HAN_VARIANTS and DEFAULT in order:
        order.remove(DEFAULT)  # Chinese and Korean text never takes Japanese glyph shapes
    names = ", ".join(f'"{f.family}"' for f in order)
    return f'{names}, "Noto Sans CJK JP", sans-serif'


_HAN_VARIANTS = frozenset({"Signage SC", "Signage TC", "Signage KR"})


@cache
def stylesheet(vendor_dir: Path) -> str:
    """@font-face rules for the fonts served here, and the family list for each language
    (`:where()` keeps them weaker than any class rule, e.g. a monospace pairing code)."""
    rules = []
    for font in font_files(vendor_dir).values():
        unicode_range = font.family.unicode_range
        rules.append(
            f'@font-face {{ font-family: "{font.family.family}"; '
            f'src: url("/fonts/{font.name}") format("truetype"); '
            f"font-weight: {font.weight}; font-style: normal; font-display: swap;"
            + (f" unicode-range: {unicode_range};" if unicode_range else "")
            + " }"
        )
    rules.append(f":where(html) {{ font-family: {_stack(BY_LANGUAGE['en'])}; }}")
    for family in FAMILIES:
        selectors = ", ".join(f":lang({code})" for code in family.languages)
        rules.append(f":where({selectors}) {{ font-family: {_stack(family)}; }}")
    return "\n".join(rules) + "\n"
