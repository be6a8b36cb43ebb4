"""The paper ticket, drawn with Pillow for 58 mm and 80 mm thermal printers (203 dpi),
and the QR code that opens the resident's phone view."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import segno
from PIL import Image, ImageDraw, ImageFont

from content.fonts import find_cjk_font, japanese_face

# Printable dots across at 203 dpi: 48 mm on 58 mm paper, 72 mm on 80 mm paper.
PAPER_DOTS = {58: 384, 80: 576}


@dataclass(frozen=True)
class TicketText:
    site: str
    heading: str  # "受付番号 / Your number"
    label: str  # "A-023"
    service: str
    waiting: str  # "あなたの前に5人 · 約15分(目安)"
    issued: str  # "2026-12-01 09:12"
    scan: str  # what the QR code is for
    url: str  # the phone view


def qr_code(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="svg", scale=scale, border=2, dark="#000", light="#fff")
    return buffer.getvalue()


def _qr_image(url: str, size: int) -> Image.Image:
    matrix = qr_code(url).matrix
    modules = len(matrix) + 4  # a quiet zone of two modules each side
    scale = max(1, size // modules)
    image = Image.new("L", (modules * scale, modules * scale), 255)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                left, top = (x + 2) * scale, (y + 2) * scale
                draw.rectangle((left, top, left + scale - 1, top + scale - 1), fill=0)
    return image


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = find_cjk_font(bold=True)
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size, index=japanese_face(path))


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, size: int) -> tuple[object, int]:
    """The largest font up to `size` in which `text` fits `width`."""
    while size > 10:
        font = _font(size)
        if draw.textlength(text, font=font) <= width:
            return font, size
        size = int(size * 0.9)
    return _font(10), 10


def render_ticket(text: TicketText, paper: int = 80) -> bytes:
    """A black-and-white PNG as wide as the printer prints."""
    width = PAPER_DOTS[paper]
    margin = width // 24
    inner = width - 2 * margin
    image = Image.new("L", (width, width * 3), 255)
    draw = ImageDraw.Draw(image)
    y = margin

    def line(value: str, size: int, gap: int = 8) -> None:
        nonlocal y
        font, used = _fit(draw, value, inner, size)
        length = draw.textlength(value, font=font)  # type: ignore[arg-type]
        draw.text(((width - length) / 2, y), value, fill=0, font=font)  # type: ignore[arg-type]
        y += int(used * 1.25) + gap

    line(text.site, width // 16)
    draw.line((margin, y, width - margin, y), fill=0, width=2)
    y += 12
    line(text.heading, width // 18, 0)
    line(text.label, width // 4, 4)
    line(text.service, width // 14)
    line(text.waiting, width // 20)
    qr = _qr_image(text.url, int(width * 0.6))
    image.paste(qr, ((width - qr.width) // 2, y))
    y += qr.height + 8
    line(text.scan, width // 26, 4)
    line(text.issued, width // 24, 0)
    image = image.crop((0, 0, width, y + margin))
    buffer = io.BytesIO()
    image.convert("1", dither=Image.Dither.NONE).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
