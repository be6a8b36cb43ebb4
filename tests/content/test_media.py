"""Media ingestion: every picture is made here with Pillow, no binary fixtures."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from content.media import (
    RENDITION_SIZES,
    THUMB_SIZE,
    IngestedImage,
    MediaRejected,
    Rendition,
    ingest_image,
    safe_display_name,
)

NOT_A_PICTURE = "This file is not a picture in JPEG, PNG, GIF or WebP format."
DAMAGED = "The file is damaged or incomplete."
EXTRA_DATA = "The file has extra data after the picture; save it again from an image editor."


def _save(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _photo(size: tuple[int, int]) -> Image.Image:
    """Smooth colours everywhere (thousands of distinct values), like a photograph."""
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").rotate(90).resize(size)
    return Image.merge("RGB", (red, green, blue))


def _rejected(data: bytes, filename: str = "picture.jpg", **limits: int) -> str:
    with pytest.raises(MediaRejected) as info:
        ingest_image(data, filename, **limits)
    return str(info.value)  # the message with its values filled in


def _open(rendition: Rendition) -> Image.Image:
    image = Image.open(io.BytesIO(rendition.data))
    assert image.size == (rendition.width, rendition.height)
    assert rendition.content_type == Image.MIME[image.format or ""]
    return image


def _by_name(result: IngestedImage) -> dict[str, Rendition]:
    return {rendition.name: rendition for rendition in result.renditions}


def _animation(fmt: str, count: int, size: tuple[int, int] = (400, 200)) -> bytes:
    colours = [(200, 0, 0), (0, 160, 0), (0, 0, 200), (200, 200, 0), (0, 200, 200)]
    frames = [Image.new("RGB", size, colours[i % len(colours)]) for i in range(count)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=80, loop=0)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def _png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(_chunk(kind, body) for kind, body in chunks)


# --- renditions ---------------------------------------------------------------------------


def test_exif_orientation_applied_and_metadata_removed() -> None:
    stored = Image.new("RGB", (400, 300), (220, 30, 30))
    stored.paste((30, 30, 220), (0, 150, 400, 300))  # top red, bottom blue as stored
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown turned 90° clockwise
    exif[ExifTags.Base.Make] = "Camera"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (35.0, 41.0, 22.0)
    data = _save(stored, "JPEG", exif=exif, quality=95)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    result = ingest_image(data, "写真.jpg")

    assert (result.format, result.width, result.height) == ("JPEG", 300, 400)
    assert [r.name for r in result.renditions] == [*RENDITION_SIZES, "thumb"]
    for rendition in result.renditions:
        image = _open(rendition)
        assert rendition.content_type == "image/jpeg"
        assert image.height > image.width
        assert not image.getexif()
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)
    thumb = _open(_by_name(result)["thumb"]).convert("RGB")
    assert thumb.size == (240, 320)
    left, right = thumb.getpixel((20, 160)), thumb.getpixel((220, 160))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert left[2] > 150 > left[0]  # the bottom (blue) is now on the left
    assert right[0] > 150 > right[2]


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = _save(Image.new("CMYK", (500, 400), (0, 255, 255, 0)), "JPEG")

    result = ingest_image(data, "cmyk.jpg")

    for rendition in result.renditions:
        image = _open(rendition)
        assert image.mode == "RGB"
        pixel = image.getpixel((image.width // 2, image.height // 2))
        assert isinstance(pixel, tuple)
        assert pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


def test_palette_png_with_transparency_keeps_alpha() -> None:
    image = Image.new("P", (600, 400), 1)
    image.putpalette([0, 0, 0, 255, 255, 255, 200, 0, 0] + [0] * 759)
    image.paste(2, (100, 100, 500, 300))
    data = _save(image, "PNG", transparency=1)

    result = ingest_image(data, "logo.png")

    for rendition in result.renditions:
        out = _open(rendition)
        assert rendition.content_type == "image/png"
        corner = out.convert("RGBA").getpixel((0, 0))
        assert isinstance(corner, tuple) and corner[3] == 0
        centre = out.convert("RGBA").getpixel((out.width // 2, out.height // 2))
        assert centre == (200, 0, 0, 255)


def test_renditions_fit_their_box_and_never_upscale() -> None:
    boxes = {**RENDITION_SIZES, "thumb": THUMB_SIZE}
    wide = ingest_image(_save(_photo((4000, 1000)), "JPEG"), "wide.jpg")
    assert {r.name: (r.width, r.height) for r in wide.renditions} == {
        "1920x1080": (1920, 480),
        "1280x720": (1280, 320),
        "1080x1920": (1080, 270),
        "thumb": (320, 80),
    }
    small = ingest_image(_save(_photo((640, 480)), "JPEG"), "small.jpg")
    assert {r.name: (r.width, r.height) for r in small.renditions} == {
        "1920x1080": (640, 480),
        "1280x720": (640, 480),
        "1080x1920": (640, 480),
        "thumb": (320, 240),
    }
    tall = ingest_image(_save(_photo((3000, 5000)), "JPEG"), "tall.jpg")
    for result in (wide, small, tall):
        for rendition in result.renditions:
            box_width, box_height = boxes[rendition.name]
            assert rendition.width <= box_width and rendition.height <= box_height
            assert abs(rendition.width / rendition.height - result.width / result.height) < 0.01
            _open(rendition)
    assert (_by_name(tall)["1080x1920"].width, _by_name(tall)["1080x1920"].height) == (
        1080,
        1800,
    )


def test_identical_bytes_give_identical_results() -> None:
    data = _save(_photo((800, 600)), "JPEG")
    first, second = ingest_image(data, "a.jpg"), ingest_image(data, "b.jpg")
    assert first == second
    assert first.sha256 == second.sha256 == hashlib.sha256(data).hexdigest()
    other = ingest_image(_save(_photo((800, 601)), "JPEG"), "a.jpg")
    assert other.sha256 != first.sha256
    rendition = first.renditions[0]
    assert rendition.sha256 == hashlib.sha256(rendition.data).hexdigest()


@pytest.mark.parametrize(
    "params",
    [
        {"progressive": True},
        {"restart_marker_rows": 2},
        {"subsampling": 0, "quality": 100},
    ],
)
def test_jpeg_variants_are_accepted(params: dict[str, Any]) -> None:
    data = _save(_photo((900, 700)), "JPEG", **params)
    assert ingest_image(data, "a.jpg").width == 900


def test_our_own_renditions_can_be_ingested_again() -> None:
    for data in (
        _save(_photo((2000, 1500)), "JPEG"),
        _save(Image.new("RGBA", (500, 500), (0, 0, 0, 0)), "PNG"),
        _animation("GIF", 3),
        _animation("WEBP", 3),
    ):
        for rendition in ingest_image(data, "a").renditions:
            again = ingest_image(rendition.data, "again")
            assert (again.width, again.height) == (rendition.width, rendition.height)


def test_unreadable_exif_is_ignored() -> None:
    data = _save(_photo((300, 200)), "JPEG")
    junk = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + b"\xff" * 40
    segment = b"\xff\xe1" + (len(junk) + 2).to_bytes(2, "big") + junk
    with pytest.warns(UserWarning, match="Corrupt EXIF"):  # Pillow's; printed in production
        result = ingest_image(data[:2] + segment + data[2:], "a.jpg")
    assert (result.width, result.height) == (300, 200)
    assert not _open(result.renditions[0]).getexif()


def test_parallel_calls_agree() -> None:
    data = _save(_photo((1600, 1200)), "PNG")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ingest_image(data, "a.png"), range(4)))
    assert all(result == results[0] for result in results)


def test_output_format_rules() -> None:
    flat = Image.new("RGB", (800, 600), "white")
    flat.paste((0, 70, 160), (0, 0, 800, 100))
    assert {r.content_type for r in ingest_image(_save(flat, "PNG"), "a.png").renditions} == {
        "image/png"
    }
    photo_png = ingest_image(_save(_photo((800, 600)).convert("RGBA"), "PNG"), "a.png")
    assert {r.content_type for r in photo_png.renditions} == {"image/jpeg"}
    gif_still = ingest_image(_save(flat, "GIF"), "a.gif")
    assert (gif_still.animated, gif_still.frames) == (False, 1)
    assert {r.content_type for r in gif_still.renditions} == {"image/png"}
    webp = ingest_image(_save(_photo((800, 600)), "WEBP"), "a.webp")
    assert webp.format == "WEBP"
    assert {r.content_type for r in webp.renditions} == {"image/jpeg"}


def test_metadata_and_profiles_are_not_copied() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "<script>alert(1)</script>")
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _save(_photo((500, 400)), "PNG", pnginfo=text, icc_profile=profile)
    for rendition in ingest_image(data, "a.png").renditions:
        image = _open(rendition)
        assert not {"Comment", "icc_profile", "exif"} & set(image.info)
    gif = _save(Image.new("P", (50, 50)), "GIF", comment=b"<script>")
    for rendition in ingest_image(gif, "a.gif").renditions:
        assert "comment" not in _open(rendition).info


def test_sixteen_bit_grey_png_is_scaled_not_clipped() -> None:
    data = _save(Image.new("I;16", (300, 200), 32768), "PNG")
    image = _open(ingest_image(data, "grey.png").renditions[0])
    assert image.convert("L").getpixel((10, 10)) in range(120, 135)


# --- animations ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "content_type"), [("GIF", "image/gif"), ("WEBP", "image/webp")])
def test_animation_stays_animated(fmt: str, content_type: str) -> None:
    result = ingest_image(_animation(fmt, 5, (2400, 400)), "anim")
    assert (result.format, result.animated, result.frames) == (fmt, True, 5)
    assert (result.width, result.height) == (2400, 400)
    for rendition in result.renditions:
        image = _open(rendition)
        if rendition.name == "thumb":
            assert rendition.content_type in ("image/png", "image/jpeg")
            assert not getattr(image, "is_animated", False)
            continue
        assert rendition.content_type == content_type
        assert getattr(image, "n_frames", 1) == 5
        assert image.info.get("loop") == 0
        image.seek(1)
        image.load()
        assert image.info["duration"] == 80
        frame = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
        assert isinstance(frame, tuple) and frame[1] > 120 and frame[0] < 60
    assert (_by_name(result)["1920x1080"].width, _by_name(result)["1920x1080"].height) == (
        1920,
        320,
    )


def gif_longest_delay(frames: int = 2) -> bytes:
    """Identical 1×1 frames, each shown for the longest delay a GIF holds (655.35 s).
    Written by hand: Pillow itself cannot save it."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frame = (
        b"\x21\xf9\x04\x00" + struct.pack("<H", 0xFFFF) + b"\x00\x00"
        + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    )  # fmt: skip
    return screen + loop + frame * frames + b"\x3b"


@pytest.mark.parametrize("frames", [2, 7])
def test_identical_frames_at_the_longest_delay_are_accepted(frames: int) -> None:
    result = ingest_image(gif_longest_delay(frames), "slow.gif")
    assert (result.format, result.animated, result.frames) == ("GIF", True, frames)
    image = _open(_by_name(result)["1920x1080"])
    assert image.info["duration"] <= 655350


def test_animated_gif_keeps_transparency() -> None:
    frames = []
    for x in (0, 100):
        frame = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
        frame.paste((255, 0, 0, 255), (x, 0, x + 100, 100))
        frames.append(frame)
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], disposal=2)
    result = ingest_image(data, "blink.gif")
    image = _open(result.renditions[0])
    image.seek(1)
    second = image.convert("RGBA")
    assert second.getpixel((50, 50)) == (0, 0, 0, 0)  # what frame 1 drew is gone
    assert second.getpixel((150, 50)) == (255, 0, 0, 255)
    assert _by_name(result)["thumb"].content_type == "image/png"


def test_animation_over_the_pixel_budget_is_rejected() -> None:
    message = _rejected(_animation("GIF", 10, (100, 100)), "a.gif", max_animation_pixels=50_000)
    assert message.startswith("The animation is too long or too large")
    assert "0.05 million pixels" in message
    assert _rejected(_animation("WEBP", 10, (100, 100)), "a.webp", max_animation_pixels=50_000)


# --- rejected files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"Hello, this is a text file.\n",
        b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"\xef\xbb\xbf<html>",
        b"#!/bin/sh\nrm -rf /\n",
    ],
)
def test_text_html_and_svg_named_jpg_are_rejected(data: bytes) -> None:
    assert _rejected(data, "photo.jpg") == NOT_A_PICTURE


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "PDF", "ICO", "PPM", "TGA"])
def test_other_formats_are_rejected(fmt: str) -> None:
    assert _rejected(_save(Image.new("RGB", (64, 64), "red"), fmt), "photo.png") == NOT_A_PICTURE


def test_empty_and_oversized_files_are_rejected() -> None:
    assert _rejected(b"") == "The file is empty."
    data = _save(_photo((400, 300)), "JPEG")
    assert len(data) > 2048
    assert _rejected(data, max_bytes=2048) == "The file is too large: at most 2 KB."
    assert "at most 30 MB" in _rejected(b"x" * (30 * 1024 * 1024 + 1))


def test_truncated_jpeg_is_rejected() -> None:
    data = _save(_photo((800, 600)), "JPEG")
    assert _rejected(data[: len(data) // 2]) == DAMAGED
    assert _rejected(data[:-2]) == DAMAGED
    assert _rejected(data[:200]) == DAMAGED


def test_png_with_corrupted_image_data_is_rejected() -> None:
    data = _save(_photo((300, 200)), "PNG")
    chunks = _png_chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    flipped = bytearray(data)
    flipped[100] ^= 0xFF  # inside IDAT; its CRC no longer matches
    assert _rejected(bytes(flipped), "a.png") == DAMAGED
    garbage = _png_from_chunks([chunks[0], (b"IDAT", b"\x78\x9c" + b"\xff" * 500), chunks[2]])
    assert _rejected(garbage, "a.png") == DAMAGED
    short = _png_from_chunks([chunks[0], (b"IDAT", chunks[1][1][:100]), chunks[2]])
    assert _rejected(short, "a.png") == DAMAGED
    assert _rejected(data[:-12], "a.png") == DAMAGED


def test_broken_animation_frame_is_rejected() -> None:
    data = bytearray(_animation("GIF", 3))
    assert data[-1] == 0x3B
    assert _rejected(bytes(data[:-1]), "a.gif") == DAMAGED
    assert _rejected(bytes(data[: len(data) // 2]) + b"\x3b", "a.gif") == DAMAGED


def _png_declaring(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * 1000) * 10)
    return _png_from_chunks([(b"IHDR", header), (b"IDAT", rows), (b"IEND", b"")])


def test_decompression_bomb_is_rejected_fast() -> None:
    bomb = _png_declaring(30000, 30000)
    assert len(bomb) < 1000
    start = time.perf_counter()
    assert _rejected(bomb, "a.png") == "The picture is too large: at most 50 megapixels."
    # Above Pillow's own limit, its DecompressionBombError must not escape either.
    assert _rejected(bomb, "a.png", max_pixels=10**10).startswith("The picture is too large")
    assert time.perf_counter() - start < 1


def test_picture_over_max_pixels_is_rejected() -> None:
    data = _save(_photo((3000, 2000)), "JPEG")
    message = _rejected(data, max_pixels=5_000_000)
    assert message == "The picture is too large: at most 5 megapixels."
    assert ingest_image(data, "a.jpg", max_pixels=6_000_000).width == 3000


@pytest.mark.parametrize(
    "payload",
    [
        b"<html><script>alert(1)</script></html>",
        b"\xff\xd9<script>alert(1)</script>\xff\xd9",
        b"\x00",
    ],
)
def test_jpeg_with_appended_data_is_rejected(payload: bytes) -> None:
    data = _save(_photo((300, 200)), "JPEG")
    assert _rejected(data + payload) == EXTRA_DATA


def test_jpeg_zip_polyglot_is_rejected() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("index.html", "<script>alert(1)</script>")
    assert _rejected(_save(_photo((300, 200)), "JPEG") + archive.getvalue()) == EXTRA_DATA


def test_data_after_the_end_of_png_gif_and_webp_is_rejected() -> None:
    image = _photo((120, 80))
    assert _rejected(_save(image, "PNG") + b"<html>", "a.png") == EXTRA_DATA
    assert _rejected(_save(image, "GIF") + b"PK\x03\x04", "a.gif") == EXTRA_DATA
    assert _rejected(_save(image, "WEBP") + b"<svg/>", "a.webp") == EXTRA_DATA
    assert _rejected(_animation("GIF", 2) + b"x", "a.gif") == EXTRA_DATA


def test_rejected_file_names() -> None:
    data = _save(Image.new("RGB", (10, 10)), "PNG")
    for name, expected in [
        ("../x.jpg", "The file name must not contain “/” or “\\”."),
        ("..\\x.jpg", "The file name must not contain “/” or “\\”."),
        ("..", "The file name must not be only dots; rename the file."),
        ("a\x00.jpg", "The file name contains invisible control characters; rename the file."),
        (
            "evil\u202egpj.exe",
            "The file name contains invisible control characters; rename the file.",
        ),
        ("a\n.png", "The file name contains invisible control characters; rename the file."),
        ("", "The file has no name; give it a name and try again."),
        ("   ", "The file has no name; give it a name and try again."),
        ("あ" * 197 + ".png", "The file name is too long: at most 200 characters."),
    ]:
        with pytest.raises(MediaRejected) as info:
            safe_display_name(name)
        assert str(info.value) == expected
        assert _rejected(data, name) == expected


def test_accepted_file_names() -> None:
    assert safe_display_name("お知らせ.png") == "お知らせ.png"
    assert safe_display_name("お知らせ...png") == "お知らせ...png"
    assert safe_display_name("  窓口 案内.jpg ") == "窓口 案内.jpg"
    assert safe_display_name("\u304b\u3099.png") == "\u304c.png"  # macOS sends NFD
    assert safe_display_name("あ" * 196 + ".png") == "あ" * 196 + ".png"
    data = _save(Image.new("RGB", (10, 10)), "PNG")
    assert ingest_image(data, "お知らせ.png").format == "PNG"


def test_phone_pictures_with_declared_extra_images_are_accepted() -> None:
    """Multi-picture JPEGs (MPF), as phones write them, keep working; the first is used."""
    first = Image.new("RGB", (640, 480), "red")
    second = Image.new("RGB", (320, 240), "blue")
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    data = buffer.getvalue()
    assert b"MPF\x00" in data
    image = ingest_image(data, "phone.jpg")
    assert (image.format, image.width, image.height, image.animated) == ("JPEG", 640, 480, False)
    # Anything else after such a picture is still refused.
    assert _rejected(data + b"<html>payload</html>") == EXTRA_DATA
