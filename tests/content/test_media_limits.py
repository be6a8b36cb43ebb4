"""Animations are bounded in frames and in work; decode_pixels tells what a picture needs."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from content.media import MAX_FRAMES, MediaRejected, decode_pixels, ingest_image


def _gif(count: int, size: tuple[int, int] = (320, 240)) -> bytes:
    frames = []
    for i in range(count):
        frame = Image.new("RGB", size, (i % 256, 80, 160))
        ImageDraw.Draw(frame).rectangle((i % size[0], 10, i % size[0] + 40, 50), fill="white")
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=40)
    return buffer.getvalue()


def test_an_animation_with_too_many_frames_is_refused_before_decoding() -> None:
    with pytest.raises(MediaRejected) as refused:
        ingest_image(_gif(MAX_FRAMES + 1, (64, 48)), "long.gif")
    assert str(refused.value) == (
        f"The animation has too many frames: at most {MAX_FRAMES}. Make it shorter."
    )
    assert len(ingest_image(_gif(MAX_FRAMES, (64, 48)), "ok.gif").renditions) == 4


def test_an_animation_that_takes_too_long_is_given_up() -> None:
    data = _gif(60)
    with pytest.raises(MediaRejected) as refused:
        ingest_image(data, "slow.gif", max_seconds=0.05)
    assert "takes too long to prepare (more than 0.05 seconds)" in str(refused.value)
    assert ingest_image(data, "slow.gif").frames == 60


def test_decode_pixels_counts_what_is_held_decoded() -> None:
    png = io.BytesIO()
    Image.new("RGB", (4000, 3000)).save(png, "PNG")
    assert decode_pixels(png.getvalue()) == 12_000_000
    jpeg = io.BytesIO()
    Image.new("RGB", (8000, 6000)).save(jpeg, "JPEG")
    # libjpeg decodes at 1/4 scale: 2000x1500 still covers the largest rendition.
    assert decode_pixels(jpeg.getvalue()) == 3_000_000
    assert decode_pixels(_gif(3)) == 4 * 320 * 240
    with pytest.raises(MediaRejected):
        decode_pixels(b"<svg></svg>")
