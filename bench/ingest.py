"""Ingesting a 24-megapixel photo (all renditions and the thumbnail), against plain Pillow.

Baseline, same file, same run: open -> resize to 1920x1080 (Lanczos, no draft) -> save JPEG.
Best of 3 each, well under a minute:
    .venv/bin/python bench/ingest.py
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from content.media import ingest_image

SIZE = (6000, 4000)
ROUNDS = 3


def _photo(path: Path) -> bytes:
    """Gradients with grain, so the JPEG compresses like a real photograph (several MB)."""
    small = (SIZE[0] // 8, SIZE[1] // 8)
    red = Image.linear_gradient("L").resize(small)
    green = Image.radial_gradient("L").resize(small)
    blue = Image.linear_gradient("L").rotate(90).resize(small)
    picture = Image.merge("RGB", (red, green, blue)).resize(SIZE, Image.Resampling.BICUBIC)
    grain = Image.merge("RGB", [Image.effect_noise(SIZE, 24 + 8 * i) for i in range(3)])
    picture = Image.blend(picture, grain, 0.25)
    picture.save(path, "JPEG", quality=90)
    return path.read_bytes()


def _baseline(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        small = image.resize((1920, 1080), Image.Resampling.LANCZOS)
    small.save(io.BytesIO(), "JPEG", quality=85, optimize=True, progressive=True)


def _best(run: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = _photo(Path(tmp) / "photo.jpg")
    result = ingest_image(data, "photo.jpg")
    print(f"source: {SIZE[0]}x{SIZE[1]} JPEG, {len(data) / 1e6:.1f} MB")
    print("renditions: " + ", ".join(f"{r.name} {r.width}x{r.height}" for r in result.renditions))
    baseline = _best(lambda: _baseline(data))
    ingest = _best(lambda: ingest_image(data, "photo.jpg"))
    print(f"baseline (open, resize 1920x1080, save): {baseline * 1000:7.1f} ms")
    print(f"ingest_image (3 renditions + thumb):     {ingest * 1000:7.1f} ms")
    print(f"ratio ingest / baseline: {ingest / baseline:.2f}x")


if __name__ == "__main__":
    main()
