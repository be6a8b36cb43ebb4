"""Media ingestion: check an uploaded picture and make upright, metadata-free renditions.

Pure and synchronous; the server runs `ingest_image` in a worker thread. Nothing here
changes global state (no Pillow settings, no warning filters), so calls may run in parallel.

    image = ingest_image(data, "お知らせ.png")
    for rendition in image.renditions: store(rendition.sha256, rendition.data)

Output formats:
- stills: PNG when the picture has real transparency, or when it came as PNG or GIF with at
  most 256 colours (drawings, notices, screenshots stay crisp); JPEG otherwise
  (quality 85, optimised, progressive). Stills are never written as WebP or GIF.
- animations: GIF stays an animated GIF, WebP stays an animated WebP; the thumbnail is the
  first frame, as a still (PNG or JPEG by the rule above).
- APNG is treated as a still picture: its first frame.
- All metadata (EXIF with GPS, XMP, comments, text chunks) is dropped; an ICC profile is
  converted to sRGB (when Pillow has LittleCMS) and not written out.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import time
import unicodedata
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageSequence, UnidentifiedImageError

from content import N_

RENDITION_SIZES: dict[str, tuple[int, int]] = {
    "1920x1080": (1920, 1080),
    "1280x720": (1280, 720),
    "1080x1920": (1080, 1920),
}
THUMB_SIZE = (320, 320)
# An animation for a screen is a few seconds long; a longer one is refused before decoding,
# and decoding and re-encoding any animation is given up after MAX_SECONDS of work.
MAX_FRAMES = 200
MAX_SECONDS = 15.0

_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}

NOT_A_PICTURE = N_("This file is not a picture in JPEG, PNG, GIF or WebP format.")
DAMAGED = N_("The file is damaged or incomplete.")
EXTRA_DATA = N_("The file has extra data after the picture; save it again from an image editor.")

# Errors Pillow raises on malformed input while opening, seeking or decoding.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)

_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
_MAX_NAME_LENGTH = 200


class MediaRejected(ValueError):
    """The upload is not acceptable; `message` is an English sentence for the person."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        # `message` is the English original with %(name)s placeholders, for translation.
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    content_type: str
    data: bytes
    sha256: str


@dataclass(frozen=True)
class IngestedImage:
    sha256: str
    format: str
    width: int
    height: int
    animated: bool
    frames: int
    renditions: tuple[Rendition, ...]


def safe_display_name(filename: str) -> str:
    """The name to show staff (NFC, without surrounding spaces); raises MediaRejected."""
    for char in filename:
        if char in "/\\":
            raise MediaRejected("The file name must not contain “/” or “\\”.")
        if char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
            raise MediaRejected(
                "The file name contains invisible control characters; rename the file."
            )
    # Names from macOS arrive decomposed (NFD); staff should see and search the usual form.
    name = unicodedata.normalize("NFC", filename).strip()
    if not name:
        raise MediaRejected("The file has no name; give it a name and try again.")
    if name.strip(".") == "":
        raise MediaRejected("The file name must not be only dots; rename the file.")
    if len(name) > _MAX_NAME_LENGTH:
        raise MediaRejected(
            "The file name is too long: at most %(count)s characters.", count=_MAX_NAME_LENGTH
        )
    return name


def ingest_image(
    data: bytes,
    filename: str,
    *,
    max_bytes: int = 30 * 1024 * 1024,
    max_pixels: int = 50_000_000,
    max_animation_pixels: int = 200_000_000,
    max_frames: int = MAX_FRAMES,
    max_seconds: float = MAX_SECONDS,
) -> IngestedImage:
    """Check an upload and make its renditions; raises MediaRejected with the reason.

    An animation with more than `max_frames` frames is refused before decoding, and one
    whose frames take longer than `max_seconds` to decode and re-encode is given up.
    """
    deadline = time.monotonic() + max_seconds
    safe_display_name(filename)
    if not data:
        raise MediaRejected("The file is empty.")
    if len(data) > max_bytes:
        raise MediaRejected("The file is too large: at most %(size)s.", size=_size_text(max_bytes))

    # Read the container ourselves first: it catches polyglots and truncation, and gives
    # the declared size so a bomb is refused before Pillow allocates anything.
    container = _read_container(data)
    _check_pixels(
        container.width, container.height, container.frames, max_pixels, max_animation_pixels
    )
    _check_frames(container.frames, max_frames)

    with _pillow_errors(_too_large(max_pixels)):
        image = Image.open(io.BytesIO(data), formats=list(_FORMATS))
    with image:
        fmt = "JPEG" if image.format == "MPO" else image.format
        if fmt != container.format:
            raise MediaRejected(DAMAGED)
        animated = fmt in ("GIF", "WEBP") and bool(getattr(image, "is_animated", False))
        frames = int(getattr(image, "n_frames", 1)) if animated else 1
        _check_pixels(image.width, image.height, frames, max_pixels, max_animation_pixels)
        _check_frames(frames, max_frames)
        if animated:
            return _ingest_animation(image, data, fmt, frames, _Deadline(deadline, max_seconds))
        return _ingest_still(image, data, fmt)


@dataclass(frozen=True)
class _Container:
    format: str
    width: int
    height: int
    frames: int


def _read_container(data: bytes) -> _Container:
    # The magic numbers are the allow-list: HTML, SVG, scripts, PDF, BMP, TIFF... stop here.
    try:
        if data.startswith(b"\xff\xd8\xff"):
            return _read_jpeg(data)
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _read_png(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _read_gif(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _read_webp(data)
    except (struct.error, IndexError):
        raise MediaRejected(DAMAGED) from None
    raise MediaRejected(NOT_A_PICTURE)


def _check_end(end: int, data: bytes) -> None:
    if end > len(data):
        raise MediaRejected(DAMAGED)
    if end < len(data):
        raise MediaRejected(EXTRA_DATA)


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Inside entropy-coded data FF is followed by 00 (stuffing) or D0-D7 (restart markers);
# anything else is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _read_jpeg(data: bytes) -> _Container:
    end, size, multi_picture = _jpeg_stream(data, 0)
    if size is None or 0 in size:
        raise MediaRejected(DAMAGED)
    # Phones append more pictures (depth maps, HDR, motion photos) after the first and
    # declare them in an MPF segment. Those are accepted when each is a whole JPEG stream;
    # anything else after the picture is a polyglot.
    while multi_picture and data.startswith(b"\xff\xd8\xff", end):
        end = _jpeg_stream(data, end)[0]
    _check_end(end, data)
    return _Container("JPEG", size[0], size[1], 1)


def _jpeg_stream(data: bytes, start: int) -> tuple[int, tuple[int, int] | None, bool]:
    """Walk one JPEG stream from its SOI: (end offset, size, has an MPF segment)."""
    pos = start + 2
    size: tuple[int, int] | None = None
    multi_picture = False
    while True:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise MediaRejected(DAMAGED)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            return pos + 2, size, multi_picture
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD8:
            raise MediaRejected(DAMAGED)
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segment_end = pos + 2 + length
        if length < 2 or segment_end > len(data):
            raise MediaRejected(DAMAGED)
        if marker in _SOF_MARKERS and size is None:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            size = (width, height)
        if marker == 0xE2 and data.startswith(b"MPF\x00", pos + 4):
            multi_picture = True
        pos = segment_end
        if marker == 0xDA:  # start of scan: skip the compressed data
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                raise MediaRejected(DAMAGED)
            pos = found.start()


def _read_png(data: bytes) -> _Container:
    pos = 8
    size: tuple[int, int] | None = None
    view = memoryview(data)
    while True:
        length, chunk_type = struct.unpack_from(">I4s", data, pos)
        chunk_end = pos + 12 + length
        if chunk_end > len(data):
            raise MediaRejected(DAMAGED)
        (crc,) = struct.unpack_from(">I", data, chunk_end - 4)
        # Pillow does not check the CRC of image data, so a flipped byte would pass.
        if zlib.crc32(view[pos + 4 : chunk_end - 4]) != crc:
            raise MediaRejected(DAMAGED)
        if size is None:
            if chunk_type != b"IHDR" or length != 13:
                raise MediaRejected(DAMAGED)
            size = struct.unpack_from(">II", data, pos + 8)
        if chunk_type == b"IEND":
            _check_end(chunk_end, data)
            break
        pos = chunk_end
    if 0 in size:
        raise MediaRejected(DAMAGED)
    return _Container("PNG", size[0], size[1], 1)


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        block_size = data[pos]
        pos += 1 + block_size
        if block_size == 0:
            return pos


def _read_gif(data: bytes) -> _Container:
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)
    frames = 0
    while True:
        block = data[pos]
        if block == 0x3B:  # trailer
            _check_end(pos + 1, data)
            break
        if block == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor
            left, top, frame_width, frame_height, frame_flags = struct.unpack_from(
                "<HHHHB", data, pos + 1
            )
            # Pillow grows the canvas to hold frames that stick out of the screen.
            width = max(width, left + frame_width)
            height = max(height, top + frame_height)
            pos += 10
            if frame_flags & 0x80:
                pos += 3 << ((frame_flags & 7) + 1)
            pos = _skip_sub_blocks(data, pos + 1)  # after the LZW code size
            frames += 1
        else:
            raise MediaRejected(DAMAGED)
    if frames == 0 or width == 0 or height == 0:
        raise MediaRejected(DAMAGED)
    return _Container("GIF", width, height, frames)


def _read_webp(data: bytes) -> _Container:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    _check_end(end, data)
    pos = 12
    size: tuple[int, int] | None = None
    frames = 0
    while pos + 8 <= end:
        fourcc, chunk_size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if body + chunk_size > end:
            raise MediaRejected(DAMAGED)
        if size is None:
            size = _webp_size(fourcc, data, body)
        if fourcc == b"ANMF":
            frames += 1
        pos = body + chunk_size + (chunk_size & 1)
    if pos < end or size is None or 0 in size:
        raise MediaRejected(DAMAGED)
    return _Container("WEBP", size[0], size[1], max(frames, 1))


def _webp_size(fourcc: bytes, data: bytes, body: int) -> tuple[int, int]:
    if fourcc == b"VP8X":
        canvas = int.from_bytes(data[body + 4 : body + 10], "little")
        return (canvas & 0xFFFFFF) + 1, (canvas >> 24) + 1
    if fourcc == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, body + 6)
        return width & 0x3FFF, height & 0x3FFF
    if fourcc == b"VP8L":
        (bits,) = struct.unpack_from("<I", data, body + 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise MediaRejected(DAMAGED)


def decode_pixels(data: bytes) -> int:
    """How many pixels ingesting `data` holds decoded at once (what memory it needs):
    a JPEG is decoded at a reduced scale when that still covers the largest rendition; an
    animation holds a few frames of its canvas. Raises MediaRejected for a non-picture."""
    container = _read_container(data)
    pixels = container.width * container.height
    if container.frames > 1:
        return 4 * pixels
    if container.format == "JPEG":
        scale = 8
        for size in ((container.width, container.height), (container.height, container.width)):
            needed = max(_targets(size).values(), key=lambda box: box[0] * box[1])
            while scale > 1 and (size[0] // scale < needed[0] or size[1] // scale < needed[1]):
                scale //= 2
        return -(-pixels // (scale * scale))
    return pixels


def _check_frames(frames: int, max_frames: int) -> None:
    if frames > max_frames:
        raise MediaRejected(
            "The animation has too many frames: at most %(count)s. Make it shorter.",
            count=max_frames,
        )


@dataclass(frozen=True)
class _Deadline:
    at: float
    seconds: float

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise MediaRejected(
                "The animation takes too long to prepare (more than %(seconds)s seconds). "
                "Make it shorter or smaller.",
                seconds=f"{self.seconds:g}",
            )


def _check_pixels(
    width: int, height: int, frames: int, max_pixels: int, max_animation_pixels: int
) -> None:
    if width * height > max_pixels:
        raise _too_large(max_pixels)
    if frames > 1 and frames * width * height > max_animation_pixels:
        raise MediaRejected(
            "The animation is too long or too large: frames × width × height must be at "
            "most %(millions)s million pixels. Make it shorter or smaller.",
            millions=f"{max_animation_pixels / 1_000_000:g}",
        )


@contextmanager
def _pillow_errors(too_large: MediaRejected | None = None) -> Iterator[None]:
    """Turn Pillow's exceptions about bad input into MediaRejected."""
    try:
        yield
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # The warning arrives as an exception only where warnings are errors; either way
        # the size was already checked against max_pixels.
        raise (too_large or MediaRejected("The picture is too large.")) from None
    except UnidentifiedImageError:
        raise MediaRejected(NOT_A_PICTURE) from None
    except (*_DECODE_ERRORS, Warning):  # Pillow's warnings about a file, where they are errors
        raise MediaRejected(DAMAGED) from None


def _too_large(max_pixels: int) -> MediaRejected:
    return MediaRejected(
        "The picture is too large: at most %(megapixels)s megapixels.",
        megapixels=f"{max_pixels / 1_000_000:g}",
    )


def _size_text(count: int) -> str:
    megabytes = count / (1024 * 1024)
    if megabytes >= 1:
        return f"{round(megabytes, 1):g} MB"
    return f"{round(count / 1024, 1):g} KB"


# --- sizes -------------------------------------------------------------------------------

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest size with the same aspect ratio inside `box`; never larger than `size`."""
    width, height = size
    box_width, box_height = box
    if width <= box_width and height <= box_height:
        return size
    if width * box_height >= height * box_width:
        return box_width, max(1, round(height * box_width / width))
    return max(1, round(width * box_height / height)), box_height


def _targets(size: tuple[int, int]) -> dict[str, tuple[int, int]]:
    boxes = {**RENDITION_SIZES, "thumb": THUMB_SIZE}
    return {name: _fit(size, box) for name, box in boxes.items()}


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (*_DECODE_ERRORS, Warning):
        return 1  # unreadable EXIF: show the picture as stored rather than refuse it
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    # reducing_gap: shrink by whole factors first (much faster), Lanczos for the rest.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


# --- stills ------------------------------------------------------------------------------


def _ingest_still(image: Image.Image, data: bytes, fmt: str) -> IngestedImage:
    if fmt != "JPEG":
        # Decode now: reading EXIF may decode a PNG, and a failed load() does not raise
        # twice, so the error must not happen inside _orientation, which tolerates bad EXIF.
        with _pillow_errors():
            image.load()
    orientation = _orientation(image)
    swap = orientation in (5, 6, 7, 8)
    width, height = (image.height, image.width) if swap else image.size
    targets = _targets((width, height))
    largest = max(targets.values(), key=lambda size: size[0] * size[1])
    stored_largest = (largest[1], largest[0]) if swap else largest
    icc_profile = image.info.get("icc_profile")

    with _pillow_errors():
        if fmt == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, still at least the largest size.
            image.draft("RGB", stored_largest)
        image.load()
        base = _resizable(image)
        if base is not image:
            image.close()  # frees the decoded original: only the converted copy is needed
    few_colours = fmt in ("PNG", "GIF") and base.getcolors(256) is not None
    # Every rendition is made from one picture at the largest size needed; turning and
    # colour conversion happen there, on far fewer pixels than the original.
    master = _resize(base, stored_largest)
    if orientation in _TRANSPOSE:
        master = master.transpose(_TRANSPOSE[orientation])
    master = _output_mode(master, icc_profile)
    out_format = "PNG" if master.mode == "RGBA" or few_colours else "JPEG"

    encoded: dict[tuple[int, int], bytes] = {}
    renditions = []
    for name, size in targets.items():
        if size not in encoded:
            encoded[size] = _encode_still(_resize(master, size), out_format)
        renditions.append(_rendition(name, size, out_format, encoded[size]))
    return IngestedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        width=width,
        height=height,
        animated=False,
        frames=1,
        renditions=tuple(renditions),
    )


def _resizable(image: Image.Image) -> Image.Image:
    """The decoded picture in a mode Lanczos can resize: L, RGB, RGBA or CMYK."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scale, do not clip
        return image.convert("I").point(lambda value: value / 257).convert("L")
    if mode == "RGBA":
        return image  # a copy would double the memory of the largest pictures
    if mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return image.convert("RGBA")
    if mode in ("1", "P"):
        return image.convert("L" if mode == "1" else "RGB")
    if mode in ("L", "RGB", "CMYK"):
        return image
    return image.convert("RGB")


def _output_mode(image: Image.Image, icc_profile: object) -> Image.Image:
    """Convert to sRGB L, RGB or RGBA; an opaque alpha channel is dropped."""
    alpha = None
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        image = image.convert("RGB")
        if alpha.getextrema() == (255, 255):
            alpha = None
    if isinstance(icc_profile, bytes) and icc_profile and image.mode in ("RGB", "CMYK"):
        image = _to_srgb(image, icc_profile)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    if alpha is not None:
        image.putalpha(alpha)
    return image


def _to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image:
    try:
        from PIL import ImageCms
    except ImportError:  # Pillow built without LittleCMS: drop the profile
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # a broken or mismatched profile: keep the colours as stored
    return converted if converted is not None else image


def _encode_still(image: Image.Image, out_format: str) -> bytes:
    image.info = {}  # never carry EXIF, XMP, comments or ICC into the output
    buffer = io.BytesIO()
    if out_format == "JPEG":
        image.save(buffer, "JPEG", quality=85, optimize=True, progressive=True)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _rendition(name: str, size: tuple[int, int], out_format: str, data: bytes) -> Rendition:
    return Rendition(
        name=name,
        width=size[0],
        height=size[1],
        content_type=_CONTENT_TYPES[out_format],
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )


# --- animations --------------------------------------------------------------------------


def _ingest_animation(
    image: Image.Image, data: bytes, fmt: str, frames: int, deadline: _Deadline
) -> IngestedImage:
    # Decode every frame once before making anything: a broken frame rejects the file.
    durations: list[int] = []
    has_alpha = False
    first: Image.Image | None = None
    with _pillow_errors():
        for frame in _frames(image, deadline):
            durations.append(int(frame.info.get("duration", 0) or 0))
            has_alpha = has_alpha or frame.getchannel("A").getextrema() != (255, 255)
            if first is None:
                first = frame
    if first is None or len(durations) != frames:
        raise MediaRejected(DAMAGED)
    loop = image.info.get("loop")

    targets = _targets(image.size)
    encoded: dict[tuple[int, int], bytes] = {}
    renditions = []
    for name, size in targets.items():
        if name == "thumb":
            thumb = _output_mode(_resize(first, size), None)
            out_format = "PNG" if thumb.mode == "RGBA" else "JPEG"
            renditions.append(_rendition(name, size, out_format, _encode_still(thumb, out_format)))
            continue
        if size not in encoded:
            with _pillow_errors():
                encoded[size] = _encode_animation(
                    image, fmt, size, durations, loop, has_alpha, deadline
                )
        renditions.append(_rendition(name, size, fmt, encoded[size]))
    return IngestedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        width=image.width,
        height=image.height,
        animated=True,
        frames=frames,
        renditions=tuple(renditions),
    )


def _frames(image: Image.Image, deadline: _Deadline, mode: str = "RGBA") -> Iterator[Image.Image]:
    """Each frame as it is shown (Pillow composites GIF and WebP frames)."""
    for frame in ImageSequence.Iterator(image):
        deadline.check()
        converted = frame.convert(mode)
        converted.info = {"duration": frame.info.get("duration", 0)}
        yield converted


_GIF_MAX_DELAY_MS = 0xFFFF * 10
# GIF has on/off transparency only: decide each edge pixel rather than let the palette do it.
_ALPHA_THRESHOLD = [0] * 128 + [255] * 128


def _encode_animation(
    image: Image.Image,
    fmt: str,
    size: tuple[int, int],
    durations: list[int],
    loop: object,
    has_alpha: bool,
    deadline: _Deadline,
) -> bytes:
    def resized() -> Iterator[Image.Image]:
        for frame in _frames(image, deadline, "RGBA" if has_alpha else "RGB"):
            small = _resize(frame, size)
            if fmt == "GIF" and has_alpha:
                small.putalpha(small.getchannel("A").point(_ALPHA_THRESHOLD))
            small.info = {}
            yield small

    frames = resized()
    first = next(frames)
    options: dict[str, object] = {"save_all": True, "append_images": frames}
    if fmt == "GIF" and sum(durations) > _GIF_MAX_DELAY_MS:
        # Pillow merges identical frames and adds their delays, which can pass what a GIF
        # holds (655.35 s): shorten long frames so that even all of them merged fit.
        longest = _GIF_MAX_DELAY_MS // len(durations)
        durations = [min(d, longest) for d in durations]
    options["duration"] = durations
    if isinstance(loop, int):
        options["loop"] = loop
    if fmt == "GIF":
        # Frames are whole pictures: clear before each so transparent areas stay clear.
        options["disposal"] = 2 if has_alpha else 1
    else:
        options.update(quality=85, method=4)
    buffer = io.BytesIO()
    first.save(buffer, fmt, **options)
    return buffer.getvalue()
