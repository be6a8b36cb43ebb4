"""Where frames go: a PNG file, or a Linux framebuffer."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageChops

from players.headless.cache import write_atomic


class PngOutput:
    """Writes each new frame to a PNG file, atomically (a viewer never reads half)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, image: Image.Image) -> None:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=1)
        write_atomic(self.path, buffer.getvalue(), mode=0o644, durable=False)


def raw_pixels(image: Image.Image, bits: int) -> bytes:
    """The frame as a framebuffer's pixels: RGB565 (little-endian) for 16 bits, BGR for
    24, BGRA for 32."""
    rgb = image.convert("RGB")
    if bits == 16:
        red, green, blue = rgb.split()
        high = ImageChops.add(red.point(lambda v: v & 0xF8), green.point(lambda v: v >> 5))
        low = ImageChops.add(green.point(lambda v: (v << 3) & 0xE0), blue.point(lambda v: v >> 3))
        return Image.merge("LA", (low, high)).tobytes()
    if bits == 24:
        return rgb.tobytes("raw", "BGR")
    return rgb.convert("RGBA").tobytes("raw", "BGRA")


class FramebufferOutput:
    """Writes each new frame to a Linux framebuffer device such as /dev/fb0."""

    def __init__(self, device: Path, sysfs: Path = Path("/sys/class/graphics")) -> None:
        self.device = device
        info = sysfs / device.name
        self.bits = _read_int(info / "bits_per_pixel") or 32
        self.stride = _read_int(info / "stride")

    def write(self, image: Image.Image) -> None:
        data = raw_pixels(image, self.bits)
        row = image.width * self.bits // 8
        if self.stride and self.stride > row:
            padding = bytes(self.stride - row)
            data = b"".join(data[i : i + row] + padding for i in range(0, len(data), row))
        with self.device.open("r+b") as framebuffer:
            framebuffer.write(data)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class Output(Protocol):
    def write(self, image: Image.Image) -> None: ...
