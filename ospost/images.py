"""Check and normalise uploaded photos so Instagram accepts them as feed posts.

Instagram's feed-image rules: JPEG only, at most 8 MiB, width/height between
4:5 (0.8) and 1.91:1, width 320 to 1440 px, sRGB.  The browser crops before
uploading, but nothing it sends is trusted: `process_upload` enforces every rule
itself and returns a clean baseline JPEG (plus a grid thumbnail) with all
metadata removed.

Memory is budgeted for the worst file accepted.  Decoding costs memory per
pixel, not per byte (a 47 KB PNG can hold 49 megapixels), so the pixel caps are
checked from the header before anything is decoded: 25 megapixels (every
phone's default photo is 12 or 24 MP, and Instagram shows at most 1440 px
across), 10 for WebP, whose decoder needs about 16 bytes per pixel.  JPEGs are
decoded at a reduced scale, other formats are shrunk and converted a band at a
time, and `DecodeBudget` keeps a process's concurrent uploads within a memory
total.
"""

import contextlib
import io
import math
import typing
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image
from PIL import JpegImagePlugin
from PIL import PngImagePlugin
from PIL import WebPImagePlugin

from ospost import image_pixels
from ospost.decode_budget import DecodeBudget
from ospost.image_shape import FEED_SHAPE
from ospost.image_shape import MAX_RATIO
from ospost.image_shape import MAX_WIDTH
from ospost.image_shape import MIN_RATIO
from ospost.image_shape import MIN_WIDTH
from ospost.image_shape import REEL_COVER_SHAPE
from ospost.image_shape import STORY_SHAPE
from ospost.image_shape import ImageRejected
from ospost.image_shape import Plan
from ospost.image_shape import Shape
from ospost.image_shape import aspect_ratio_label
from ospost.image_shape import fit_height
from ospost.image_shape import plan_crop
from ospost.image_shape import same_shape

try:
    import pillow_heif
except ImportError:  # HEIC/HEIF uploads are simply unsupported without it.
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

# The shapes and limits are defined beside their arithmetic (image_shape) and
# offered here too, so callers have one module for photos.
__all__ = [
    "FEED_SHAPE",
    "MAX_RATIO",
    "MAX_WIDTH",
    "MIN_RATIO",
    "MIN_WIDTH",
    "REEL_COVER_SHAPE",
    "STORY_SHAPE",
    "ImageRejected",
    "Shape",
    "aspect_ratio_label",
    "same_shape",
    "ProcessedImage",
    "estimated_memory",
    "process_upload",
    "HEIF_SUPPORTED",
    "MAX_JPEG_BYTES",
    "THUMB_WIDTH",
    "THUMB_QUALITY",
    "WHITE",
]

MAX_JPEG_BYTES = 8 * 1024 * 1024
# Enough for every phone's default photo (12 MP; 24 MP on recent iPhones); a
# 25 MP PNG decodes into 100 MB.  Instagram shows at most 1440 px across.
MAX_PIXELS = 25_000_000
# libwebp decodes through two full-size canvases plus Pillow's copy: about 16
# bytes per pixel, so 160 MB at this cap.  WebP photos are rarely this large.
MAX_WEBP_PIXELS = 10_000_000
THUMB_WIDTH = 480

HEIF_SUPPORTED = pillow_heif is not None

JPEG_QUALITY = 90
THUMB_QUALITY = 80
# Steps tried when an encoded image is over MAX_JPEG_BYTES.  A 1440-wide photo at
# quality 90 is far below 8 MiB, so in practice only the first step ever runs.
_FALLBACK_QUALITIES = (85, 80, 75, 70, 60, 50, 40)

_SOURCE_FORMATS = {
    "JPEG": "JPEG",
    # Multi-picture JPEGs (many phones and cameras) are JPEGs whose first
    # picture is the photo itself.
    "MPO": "JPEG",
    "PNG": "PNG",
    "WEBP": "WEBP",
    "HEIF": "HEIF",
}
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP") + (("HEIF",) if HEIF_SUPPORTED else ())
_DRAFTABLE = ("JPEG", "MPO")
# Peak memory of processing an upload, estimated from its header.  Measured
# with bench/upload.py (and checked by tests/test_images.py) on the worst files
# of each kind; Pillow keeps 3-channel pixels in 4 bytes.
_OUTPUT_BYTES = 48 << 20  # the shrunk copy, LANCZOS, sRGB, thumbnail, encoding
_HEIF_BYTES_PER_PIXEL = 7  # libheif's YUV and RGB planes, then Pillow's copy
_WEBP_BYTES_PER_PIXEL = 16  # libwebp's canvases and Pillow's copy
_PNG_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2}  # else 4
# libjpeg never decodes more than twice the output's size in each direction.
_MAX_DRAFTED_PIXELS = (2 * MAX_WIDTH) * (2 * math.floor(MAX_WIDTH / MIN_RATIO))
# ISO-BMFF brands of HEIC/HEIF stills (AVIF and video share the container).
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")

# Header-only readers used to report the size of an image that Pillow's own
# decompression-bomb guard refused to open.  Constructing them parses the header
# and never decodes pixels.
_HEADER_READERS: tuple[type, ...] = (
    JpegImagePlugin.JpegImageFile,
    PngImagePlugin.PngImageFile,
    WebPImagePlugin.WebPImageFile,
) + ((pillow_heif.HeifImageFile,) if HEIF_SUPPORTED else ())

_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = (5, 6, 7, 8)
_EXIF_ORIENTATION = 0x0112

# What transparent areas become unless the person picked another colour.
WHITE = (255, 255, 255)

_ACCEPTED_NAMES = "JPEG, PNG, WebP or HEIC" if HEIF_SUPPORTED else "JPEG, PNG or WebP"
MSG_EMPTY = "The uploaded file is empty. Choose a photo and try again."
MSG_UNSUPPORTED = (
    f"This file is not a supported image. Upload a {_ACCEPTED_NAMES} photo."
)
MSG_DAMAGED = "This image is damaged or incomplete and can't be read."
MSG_TOO_DETAILED = (
    "This image is too detailed to fit Instagram's 8 MB limit, even compressed. "
    "Try a simpler or smaller photo."
)


@dataclass(frozen=True)
class ProcessedImage:
    """An upload made ready for Instagram: the JPEG to publish and a grid thumbnail."""

    jpeg: bytes
    width: int
    height: int
    thumbnail: bytes
    source_format: str


@dataclass(frozen=True)
class _Decoded:
    """The part of the upload the output is made from, and what to do with it."""

    image: Image.Image  # the planned box, already shrunk by any whole factor
    plan: Plan  # the box and output size, in `image`'s pixels
    orientation: int
    icc_profile: bytes | None
    source_format: str


def process_upload(
    stream: typing.BinaryIO,
    budget: DecodeBudget | None = None,
    *,
    background: tuple[int, int, int] = WHITE,
    ratio: Fraction | None = None,
    min_width: int | None = None,
    shape: Shape = FEED_SHAPE,
) -> ProcessedImage:
    """Turn an uploaded photo into an Instagram-ready JPEG and thumbnail.

    The format is judged by the file's content.  The photo is turned upright
    (EXIF orientation), flattened onto ``background`` (the RGB colour the
    person chose for transparent areas), converted to sRGB, trimmed by a pixel
    or two when its crop is a hair outside Instagram's aspect-ratio range, scaled
    down to at most 1440 px wide and re-encoded as a baseline JPEG with
    no metadata at all (no EXIF, GPS, XMP, comments or colour profile).

    With a `ratio` (width/height, within Instagram's range), the largest centred
    box of that shape is cut out first, as bulk upload's one crop for all.
    With a `min_width`, the output may be narrower than 1440 px (never below
    `min_width`) when that lets libjpeg decode at 1/2, 1/4 or 1/8 scale: bulk
    upload's way of keeping a 12 MP photo's decoding under a quarter.

    With a `budget`, the work waits for room in it (checked from the header,
    before any pixel is decoded) and raises Busy when none frees up in time.

    ``shape`` sets the accepted aspect ratios (feed posts by default; Reel
    covers use ``REEL_COVER_SHAPE``).  Raises ImageRejected, whose message can
    be shown to the user as it is, when the upload can't be posted.  Nothing
    is written to disk and the caller's stream is left open.
    """
    im = _open_image(_readable(stream))
    cost = _admit(im)
    with budget.reserve(cost) if budget else contextlib.nullcontext():
        upload = _decode(im, shape, ratio, min_width)
        # Dropping the last reference to the full-size decode frees its memory
        # before the LANCZOS pass.  (im.close() would also close the caller's
        # stream.)
        del im
        picture = image_pixels.resize(upload.image, upload.plan)
        # Likewise the decoded box once it is resized: encoding then never
        # holds both (a 12 MP photo's peak drops by about a quarter).
        icc, orientation, source_format = (
            upload.icc_profile,
            upload.orientation,
            upload.source_format,
        )
        del upload
        picture = image_pixels.to_srgb(image_pixels.flatten(picture, background), icc)
        if orientation in _TRANSPOSE_FOR_ORIENTATION:
            picture = picture.transpose(_TRANSPOSE_FOR_ORIENTATION[orientation])
        return _finish(picture, source_format, shape)


def estimated_memory(stream: typing.BinaryIO) -> int:
    """Bytes that processing this upload may take at its peak, read from its header.

    Raises ImageRejected like `process_upload` for files it would refuse.
    """
    return _admit(_open_image(_readable(stream)))


def _admit(im: Image.Image) -> int:
    """Refuse images with too many pixels; return what processing them will cost."""
    _check_pixel_count(im)
    return _decode_cost(im)


def _decode_cost(im: Image.Image) -> int:
    """Estimate the peak memory of processing `im` from its header alone."""
    pixels = im.width * im.height
    if im.format == "HEIF":
        decoding = pixels * _HEIF_BYTES_PER_PIXEL
    elif im.format == "WEBP":
        decoding = pixels * _WEBP_BYTES_PER_PIXEL
    elif im.format in _DRAFTABLE:
        decoded = min(pixels, _MAX_DRAFTED_PIXELS) * 4
        # Progressive JPEGs keep every DCT coefficient of the full-size image
        # (2 bytes per sample) whatever the scale they are decoded at.
        progressive = pixels * 2 * len(im.getbands()) if "progression" in im.info else 0
        decoding = decoded + progressive
    else:
        decoding = pixels * _PNG_BYTES_PER_PIXEL.get(im.mode, 4)
    return _OUTPUT_BYTES + decoding


def _decode(
    im: Image.Image,
    shape: Shape,
    ratio: Fraction | None = None,
    min_width: int | None = None,
) -> _Decoded:
    """Decode only what the output needs, from an upload opened by its header."""
    source_format = _SOURCE_FORMATS[im.format or ""]
    if im.format not in _DRAFTABLE:
        # Orientation may sit in a chunk after the pixel data (PNG eXIf), so
        # these formats are decoded before it is read.
        _load(im)
    orientation = _orientation(im)
    plan = plan_crop(im.size, orientation in _SWAPS_AXES, shape, ratio, min_width)
    icc_profile = im.info.get("icc_profile")
    if im.format in _DRAFTABLE:
        plan = image_pixels.draft(im, plan)
        _load(im)
    image, plan = image_pixels.shrink(im, plan)
    return _Decoded(image, plan, orientation, icc_profile, source_format)


def _readable(stream: typing.BinaryIO) -> typing.BinaryIO:
    """Give back a seekable binary stream positioned at the start of the upload."""
    if isinstance(stream, bytes | bytearray | memoryview):
        fp: typing.BinaryIO = io.BytesIO(stream)
    elif getattr(stream, "seekable", lambda: False)():
        fp = stream
    else:
        fp = io.BytesIO(stream.read())
    fp.seek(0)
    if not fp.read(1):
        raise ImageRejected(MSG_EMPTY)
    fp.seek(0)
    return fp


def _open_image(fp: typing.BinaryIO) -> Image.Image:
    """Open the upload lazily (header only), rejecting anything we don't accept."""
    try:
        return Image.open(fp, formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(_too_many_pixels_message(_header_size(fp))) from None
    except MemoryError:
        raise
    except Exception as exc:
        # Pillow reports both "not an image" and "an image with a broken header"
        # as unidentified; the file signature tells the user which it is.
        message = MSG_DAMAGED if _has_accepted_signature(fp) else MSG_UNSUPPORTED
        raise ImageRejected(message) from exc


def _has_accepted_signature(fp: typing.BinaryIO) -> bool:
    """Tell whether the upload starts like a JPEG, PNG, WebP (or HEIC) file."""
    fp.seek(0)
    head = fp.read(12)
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return HEIF_SUPPORTED and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def _header_size(fp: typing.BinaryIO) -> tuple[int, int] | None:
    """Read the pixel dimensions from the image header without decoding it."""
    for reader in _HEADER_READERS:
        fp.seek(0)
        try:
            header = reader(fp)
        except Exception:
            continue  # Not this format (or unreadable): try the next reader.
        size = header.size
        header.close()
        return size
    return None


def _too_many_pixels_message(size: tuple[int, int] | None) -> str:
    """Explain the pixel limit, naming the image's dimensions when they are known."""
    found = f" ({size[0]}×{size[1]})" if size else ""
    return (
        f"This image has too many pixels{found}. The most we accept is "
        f"{MAX_PIXELS // 1_000_000} megapixels, and Instagram shows at most "
        f"{MAX_WIDTH} px across: upload a smaller version."
    )


def _check_pixel_count(im: Image.Image) -> None:
    """Refuse images too large to decode safely, before any pixel is decoded."""
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise ImageRejected(_too_many_pixels_message((width, height)))
    if im.format == "WEBP" and width * height > MAX_WEBP_PIXELS:
        raise ImageRejected(
            f"This WebP image has too many pixels ({width}×{height}). The most "
            f"we accept for WebP is {MAX_WEBP_PIXELS // 1_000_000} megapixels: "
            "save it as JPEG or PNG, or upload a smaller version."
        )


def _load(im: Image.Image) -> None:
    """Decode the pixels, turning any decoder failure into a message for the user."""
    try:
        im.load()
    except MemoryError:
        raise
    except Exception as exc:
        # Any failure while decoding untrusted bytes means the file is unreadable;
        # the decoders raise a wide, undocumented mix of exception types.
        raise ImageRejected(MSG_DAMAGED) from exc


def _orientation(im: Image.Image) -> int:
    """Return the EXIF orientation (1-8) that says how to turn the image upright."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        # Broken EXIF must not cost the user their post: show the pixels as stored.
        return 1
    return value if value in range(1, 9) else 1


def _finish(picture: Image.Image, source_format: str, shape: Shape) -> ProcessedImage:
    """Encode the final picture and its thumbnail as metadata-free JPEGs."""
    # JPEG saving copies a comment from im.info; start from an empty info dict so
    # nothing from the upload can reach the output.
    picture.info = {}
    jpeg = _encode(picture, JPEG_QUALITY)
    for quality in _FALLBACK_QUALITIES:
        if len(jpeg) <= MAX_JPEG_BYTES:
            break
        jpeg = _encode(picture, quality)
    if len(jpeg) > MAX_JPEG_BYTES:
        raise ImageRejected(MSG_TOO_DETAILED)
    thumb_w = min(THUMB_WIDTH, picture.width)
    thumb_size = (thumb_w, fit_height(thumb_w, picture.width, picture.height, shape))
    # reducing_gap=1.0 lets whole-number reductions (1440 -> 480 is exactly 3x)
    # be plain area averages: ideal for a grid thumbnail and ~5x cheaper.
    thumb = picture.resize(thumb_size, Image.Resampling.LANCZOS, reducing_gap=1.0)
    return ProcessedImage(
        jpeg=jpeg,
        width=picture.width,
        height=picture.height,
        thumbnail=_encode(thumb, THUMB_QUALITY),
        source_format=source_format,
    )


def _encode(im: Image.Image, quality: int) -> bytes:
    """Save as a baseline 4:2:0 JPEG carrying nothing but the pixels."""
    buffer = io.BytesIO()
    im.save(
        buffer,
        format="JPEG",
        quality=quality,
        subsampling="4:2:0",
        # optimize=True would save ~7% of the bytes for twice the encoding time,
        # and Instagram re-encodes whatever it is sent anyway.
        optimize=False,
        progressive=False,
    )
    return buffer.getvalue()
