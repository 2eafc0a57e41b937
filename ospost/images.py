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
import struct
import typing
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image
from PIL import ImageCms
from PIL import JpegImagePlugin
from PIL import PngImagePlugin
from PIL import WebPImagePlugin

from ospost.decode_budget import DecodeBudget

try:
    import pillow_heif
except ImportError:  # HEIC/HEIF uploads are simply unsupported without it.
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

MIN_RATIO = 0.8
MAX_RATIO = 1.91
MIN_WIDTH = 320
MAX_WIDTH = 1440
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
# A crop this close to the allowed range is a rounding slip by the cropper
# (1080x1351), not a wrong crop: trim it instead of making the user redo it.
RATIO_TRIM_TOLERANCE = Fraction(1, 100)

# Exact fractions so the trimming arithmetic can't be pushed outside the range by
# float rounding (1080 / 0.8 is 1350.0000000000002).
_MIN_RATIO = Fraction(str(MIN_RATIO))
_MAX_RATIO = Fraction(str(MAX_RATIO))

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
# Decoded modes the pipeline works in as they are (see `_to_working_mode`).
_NATIVE_MODES = ("L", "RGB", "CMYK")
# Peak memory of processing an upload, estimated from its header.  Measured
# with bench/upload.py (and checked by tests/test_images.py) on the worst files
# of each kind; Pillow keeps 3-channel pixels in 4 bytes.
_OUTPUT_BYTES = 48 << 20  # the shrunk copy, LANCZOS, sRGB, thumbnail, encoding
_HEIF_BYTES_PER_PIXEL = 7  # libheif's YUV and RGB planes, then Pillow's copy
_WEBP_BYTES_PER_PIXEL = 16  # libwebp's canvases and Pillow's copy
_PNG_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2}  # else 4
# libjpeg never decodes more than twice the output's size in each direction.
_MAX_DRAFTED_PIXELS = (2 * MAX_WIDTH) * (2 * math.floor(MAX_WIDTH / MIN_RATIO))
# Rows converted at a time when shrinking: about 1 M source pixels per band.
_BAND_PIXELS = 1 << 20
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

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_ICC_SPACE_TO_MODE = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}
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


class ImageRejected(ValueError):
    """The upload can't be posted; str(exc) and exc.message say why, for the user."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ProcessedImage:
    """An upload made ready for Instagram: the JPEG to publish and a grid thumbnail."""

    jpeg: bytes
    width: int
    height: int
    thumbnail: bytes
    source_format: str


_Box = tuple[float, float, float, float]
_IntBox = tuple[int, int, int, int]


@dataclass(frozen=True)
class _Plan:
    """Where to cut and how big to make the output, in the file's stored axes."""

    box: _Box
    size: tuple[int, int]


@dataclass(frozen=True)
class _Decoded:
    """The part of the upload the output is made from, and what to do with it."""

    image: Image.Image  # the planned box, already shrunk by any whole factor
    plan: _Plan  # the box and output size, in `image`'s pixels
    orientation: int
    icc_profile: bytes | None
    source_format: str


def aspect_ratio_label(width: int, height: int) -> str:
    """Describe width/height the way people talk about it: "3:1 (3.00)" or "1.50:1"."""
    ratio = width / height
    divisor = math.gcd(width, height)
    short_w, short_h = width // divisor, height // divisor
    # Only small whole-number ratios (16:9, 9:16, 3:1) mean anything to people;
    # 1501:1000 is just noise, so show the decimal instead.
    if max(short_w, short_h) <= 32:
        return f"{short_w}:{short_h} ({ratio:.2f})"
    return f"{ratio:.2f}:1"


def same_shape(first: tuple[int, int], other: tuple[int, int]) -> bool:
    """Whether two (width, height) sizes have one aspect ratio, give or take
    the rounding of a crop and a resize (RATIO_TRIM_TOLERANCE)."""
    ratio = Fraction(first[0], first[1])
    return abs(Fraction(other[0], other[1]) - ratio) <= ratio * RATIO_TRIM_TOLERANCE


def process_upload(
    stream: typing.BinaryIO,
    budget: DecodeBudget | None = None,
    *,
    background: tuple[int, int, int] = WHITE,
    ratio: Fraction | None = None,
    min_width: int | None = None,
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

    Raises ImageRejected, whose message can be shown to the user as it is, when
    the upload can't be posted.  Nothing is written to disk and the caller's
    stream is left open.
    """
    im = _open_image(_readable(stream))
    cost = _admit(im)
    with budget.reserve(cost) if budget else contextlib.nullcontext():
        upload = _decode(im, ratio, min_width)
        # Dropping the last reference to the full-size decode frees its memory
        # before the LANCZOS pass.  (im.close() would also close the caller's
        # stream.)
        del im
        picture = _resize(upload.image, upload.plan)
        # Likewise the decoded box once it is resized: encoding then never
        # holds both (a 12 MP photo's peak drops by about a quarter).
        icc, orientation, source_format = (
            upload.icc_profile,
            upload.orientation,
            upload.source_format,
        )
        del upload
        picture = _to_srgb(_flatten(picture, background), icc)
        if orientation in _TRANSPOSE_FOR_ORIENTATION:
            picture = picture.transpose(_TRANSPOSE_FOR_ORIENTATION[orientation])
        return _finish(picture, source_format)


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
    im: Image.Image, ratio: Fraction | None = None, min_width: int | None = None
) -> _Decoded:
    """Decode only what the output needs, from an upload opened by its header."""
    source_format = _SOURCE_FORMATS[im.format or ""]
    if im.format not in _DRAFTABLE:
        # Orientation may sit in a chunk after the pixel data (PNG eXIf), so
        # these formats are decoded before it is read.
        _load(im)
    orientation = _orientation(im)
    plan = _plan(im.size, orientation in _SWAPS_AXES, ratio, min_width)
    icc_profile = im.info.get("icc_profile")
    if im.format in _DRAFTABLE:
        plan = _draft(im, plan)
        _load(im)
    image, plan = _shrink(im, plan)
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


def _trim_to_ratio(width: int, height: int) -> tuple[int, int]:
    """Return the size after shaving a hair-off-range crop into Instagram's range."""
    ratio = Fraction(width, height)
    if ratio < _MIN_RATIO and ratio >= _MIN_RATIO * (1 - RATIO_TRIM_TOLERANCE):
        return width, math.floor(width / _MIN_RATIO)
    if ratio > _MAX_RATIO and ratio <= _MAX_RATIO / (1 - RATIO_TRIM_TOLERANCE):
        return math.floor(height * _MAX_RATIO), height
    if _MIN_RATIO <= ratio <= _MAX_RATIO:
        return width, height
    raise ImageRejected(
        f"The image's aspect ratio is {aspect_ratio_label(width, height)}; "
        "Instagram accepts 4:5 (0.80) to 1.91:1. Crop it and try again."
    )


def _fit_height(width: int, src_width: int, src_height: int) -> int:
    """Height for `width` that keeps the source's shape and stays in the ratio range."""
    height = round(width * src_height / src_width)
    # Rounding a scaled height can nudge the ratio just past a limit.
    lowest = math.ceil(width / _MAX_RATIO)
    highest = math.floor(width / _MIN_RATIO)
    return min(max(height, lowest), highest)


def _centre_box(width: int, height: int, ratio: Fraction) -> tuple[int, int]:
    """The largest width × height of shape ``ratio`` inside the picture."""
    if Fraction(width, height) > ratio:
        return max(1, math.floor(height * ratio)), height
    return width, max(1, math.floor(width / ratio))


def _plan(
    stored_size: tuple[int, int],
    swap: bool,
    ratio: Fraction | None = None,
    min_width: int | None = None,
) -> _Plan:
    """Work out the centred crop and output size, checking ratio and width."""
    stored_w, stored_h = stored_size
    width, height = (stored_h, stored_w) if swap else (stored_w, stored_h)
    if ratio is not None:
        width, height = _centre_box(width, height, ratio)
    crop_w, crop_h = _trim_to_ratio(width, height)
    if crop_w < MIN_WIDTH:
        raise ImageRejected(
            f"This image is only {crop_w} px wide; Instagram needs at least "
            f"{MIN_WIDTH} px."
        )
    out_w = min(crop_w, MAX_WIDTH)
    if min_width:  # the largest reduction libjpeg can do that stays wide enough
        factor = max(f for f in (1, 2, 4, 8) if crop_w // f >= min_width or f == 1)
        out_w = min(out_w, crop_w // factor)
    out_h = _fit_height(out_w, crop_w, crop_h)
    if swap:
        crop_w, crop_h, out_w, out_h = crop_h, crop_w, out_h, out_w
    left, top = (stored_w - crop_w) // 2, (stored_h - crop_h) // 2
    return _Plan((left, top, left + crop_w, top + crop_h), (out_w, out_h))


def _draft(im: Image.Image, plan: _Plan) -> _Plan:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the output is that small.

    Returns the plan with its crop box moved into the reduced image's pixels.
    """
    left, top, right, bottom = plan.box
    scale = max(plan.size[0] / (right - left), plan.size[1] / (bottom - top))
    if scale > 0.5:
        return plan  # Nothing to gain: libjpeg only reduces by 2, 4 or 8.
    full_width = im.width
    # Ask for the whole frame at the output's scale so that the crop box, once
    # reduced with it, is still at least as big as the output.
    drafted = im.draft(
        "RGB", (math.ceil(im.width * scale), math.ceil(im.height * scale))
    )
    if drafted is None:
        return plan
    # draft() reports where the full frame lies in the reduced image; libjpeg
    # rounds the reduced size up, so derive the factor from that, not im.width.
    reduction = full_width / drafted[1][2]
    box = tuple(edge / reduction for edge in plan.box)
    return _Plan(typing.cast(_Box, box), plan.size)


def _to_working_mode(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to 8-bit L, RGB or CMYK, with LA/RGBA kept for alpha."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        # convert() clips 16-bit values at 255 instead of scaling them.
        return im.point(lambda value: value / 256).convert("L")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa")
    if "transparency" in im.info or has_alpha:
        return im if mode in ("RGBA", "LA") else im.convert("RGBA")
    if mode in ("L", "RGB", "CMYK"):
        return im
    if mode == "1":
        return im.convert("L")
    return im.convert("RGB")


def _shrink(im: Image.Image, plan: _Plan) -> tuple[Image.Image, _Plan]:
    """Shrink the planned box by a whole factor if it can, in the working mode.

    The factor is the largest that keeps the box at least as big as the output;
    the returned plan locates the box in the returned image's pixels.  Area
    averaging by a whole factor is cheap and clean and leaves LANCZOS less than
    2x to do (the rule libjpeg's draft decode follows for JPEGs): a 4000 px PNG
    resizes in half the time and looks the same.  The result is in the working
    mode (see `_to_working_mode`); when nothing needs averaging or converting,
    it is `im` itself, as LANCZOS can read the box from it without a copy.
    """
    left, top, right, bottom = plan.box
    out_w, out_h = plan.size
    factor = math.floor(min((right - left) / out_w, (bottom - top) / out_h))
    if factor < 2 and _is_working_mode(im):
        return im, plan
    if factor < 2:
        whole = (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom))
        box = (left - whole[0], top - whole[1], right - whole[0], bottom - whole[1])
        return _reduce(im, whole, 1), _Plan(box, plan.size)
    whole = (round(left), round(top), round(right), round(bottom))
    box = (0, 0, (whole[2] - whole[0]) / factor, (whole[3] - whole[1]) / factor)
    return _reduce(im, whole, factor), _Plan(box, plan.size)


def _reduce(im: Image.Image, box: _IntBox, factor: int) -> Image.Image:
    """Average `box` of `im` over factor x factor blocks, in the working mode.

    Images that need converting (palette, 1-bit, 16-bit, alpha, which Pillow's
    reduce premultiplies) are converted and reduced a band of rows at a time:
    converting them whole made a second full-size copy, 4 bytes per pixel,
    which for a 47 KB palette PNG of 7000x7000 was 200 MB.  Bands start on
    multiples of `factor` rows, so the result is the same as in one piece.
    """
    if _is_working_mode(im):
        return im.reduce(factor, box=box)
    left, top, right, bottom = box
    step = max(1, _BAND_PIXELS // (factor * (right - left))) * factor
    out: Image.Image | None = None
    for y in range(top, bottom, step):
        band = _to_working_mode(im.crop((left, y, right, min(y + step, bottom))))
        band = band.reduce(factor) if factor > 1 else band
        if out is None:
            size = (band.width, math.ceil((bottom - top) / factor))
            out = Image.new(band.mode, size)
        out.paste(band, (0, (y - top) // factor))
    assert out is not None  # the box is never empty: the plan checked its width
    return out


def _is_working_mode(im: Image.Image) -> bool:
    """True when `_to_working_mode` would leave `im` as it is."""
    return im.mode in _NATIVE_MODES and "transparency" not in im.info


def _resize(im: Image.Image, plan: _Plan) -> Image.Image:
    """Scale the planned box of `im` to the planned size with LANCZOS."""
    left, top, right, bottom = plan.box
    if (right - left, bottom - top) == plan.size and all(
        float(edge).is_integer() for edge in plan.box
    ):
        # Nothing to scale: cut the box out (a copy, never the decoded file).
        return im.crop(tuple(int(edge) for edge in plan.box))
    return im.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)


def _flatten(im: Image.Image, color: tuple[int, int, int]) -> Image.Image:
    """Put any transparent areas onto the RGB ``color``."""
    if im.mode not in ("RGBA", "LA"):
        return im
    if im.mode == "LA" and len(set(color)) > 1:
        im = im.convert("RGBA")  # a grey image on a coloured background
    base_mode = im.mode[:-1]
    fill = color if base_mode == "RGB" else color[0]
    background = Image.new(base_mode, im.size, fill)
    background.paste(im, mask=im.getchannel("A"))
    return background


def _to_srgb(im: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert to RGB in sRGB, honouring an embedded colour profile."""
    source = _source_profile(icc_profile, im.mode)
    if source is not None:
        try:
            return ImageCms.profileToProfile(im, source, _SRGB, outputMode="RGB")
        except ImageCms.PyCMSError:
            pass  # A profile LittleCMS can't use is ignored, like browsers do.
    return im if im.mode == "RGB" else im.convert("RGB")


def _source_profile(
    icc_profile: bytes | None, mode: str
) -> ImageCms.ImageCmsProfile | None:
    """Return the embedded profile when it needs converting from (not sRGB)."""
    if not icc_profile:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError, struct.error):
        return None
    core = profile.profile
    if _ICC_SPACE_TO_MODE.get(core.xcolor_space.strip()) != mode:
        return None  # A profile for another colour model can't describe these pixels.
    if "srgb" in (core.profile_description or "").lower():
        return None  # Already sRGB: converting would only cost time.
    return profile


def _finish(picture: Image.Image, source_format: str) -> ProcessedImage:
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
    thumb_size = (thumb_w, _fit_height(thumb_w, picture.width, picture.height))
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
