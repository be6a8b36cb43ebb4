"""Finding a Japanese font on this machine (Debian: fonts-noto-cjk), for everything drawn
with Pillow: the headless player's frames and the printed ticket."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_CJK_FILES = {
    False: ("NotoSansCJK-Regular.ttc", "NotoSansCJKjp-Regular.otf", "NotoSansJP-Regular.otf"),
    True: ("NotoSansCJK-Bold.ttc", "NotoSansCJKjp-Bold.otf", "NotoSansJP-Bold.otf"),
}


def find_cjk_font(bold: bool = False, dirs: Sequence[Path] = FONT_DIRS) -> Path | None:
    """A Japanese font installed here (the bold or regular one asked for first), or None."""
    for name in (*_CJK_FILES[bold], *_CJK_FILES[not bold]):
        for folder in dirs:
            found = sorted(folder.rglob(name)) if folder.is_dir() else []
            if found:
                return found[0]
    for folder in dirs:
        found = sorted(folder.rglob("*CJK*.tt[cf]")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


@cache
def japanese_face(path: Path) -> int:
    """The index of the Japanese face in a font collection (Noto CJK also has SC, TC, KR)."""
    for index in range(10):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:
            break
        if "JP" in family:
            return index
    return 0
