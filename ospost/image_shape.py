"""The shapes an Instagram photo may have, and the crop that gets an upload there.

Arithmetic on sizes only, no pixels: the aspect ratios a feed photo, a Reel
cover or a Story photo may have; trimming a crop that is a rounding slip off
that range; the centred box and output size ``images.process_upload`` cuts.
"""

import math
from dataclasses import dataclass
from fractions import Fraction

MIN_RATIO = 0.8
MAX_RATIO = 1.91
MIN_WIDTH = 320
MAX_WIDTH = 1440
# A crop this close to the allowed range is a rounding slip by the cropper
# (1080x1351), not a wrong crop: trim it instead of making the user redo it.
RATIO_TRIM_TOLERANCE = Fraction(1, 100)

# Exact fractions so the trimming arithmetic can't be pushed outside the range by
# float rounding (1080 / 0.8 is 1350.0000000000002).
_MIN_RATIO = Fraction(str(MIN_RATIO))
_MAX_RATIO = Fraction(str(MAX_RATIO))


@dataclass(frozen=True)
class Shape:
    """The aspect ratios (width/height) an output may have, and their rule in words."""

    min_ratio: Fraction
    max_ratio: Fraction
    rule: str  # completes "The image's aspect ratio is 3:1 (3.00); ..."


FEED_SHAPE = Shape(_MIN_RATIO, _MAX_RATIO, "Instagram accepts 4:5 (0.80) to 1.91:1")
# Reel covers fill the screen like the Reel itself (graph-api.md §7.1: cover_url).
REEL_COVER_SHAPE = Shape(
    Fraction(9, 16), Fraction(9, 16), "a Reel cover must be 9:16 (0.56)"
)
# Story photos: 9:16 fills the screen (graph-api.md §7.2 recommends it);
# Instagram shows wider ones up to 1.91:1 on a background, so those pass too.
STORY_SHAPE = Shape(
    Fraction(9, 16),
    _MAX_RATIO,
    "a Story photo must be between 9:16 (0.56) and 1.91:1",
)


class ImageRejected(ValueError):
    """The upload can't be posted; str(exc) and exc.message say why, for the user."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Plan:
    """Where to cut and how big to make the output, in the file's stored axes."""

    box: Box
    size: tuple[int, int]


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


def trim_to_ratio(width: int, height: int, shape: Shape) -> tuple[int, int]:
    """Return the size after shaving a hair-off-range crop into the shape's range."""
    ratio = Fraction(width, height)
    low, high = shape.min_ratio, shape.max_ratio
    if ratio < low and ratio >= low * (1 - RATIO_TRIM_TOLERANCE):
        return width, math.floor(width / low)
    if ratio > high and ratio <= high / (1 - RATIO_TRIM_TOLERANCE):
        return math.floor(height * high), height
    if low <= ratio <= high:
        return width, height
    raise ImageRejected(
        f"The image's aspect ratio is {aspect_ratio_label(width, height)}; "
        f"{shape.rule}. Crop it and try again."
    )


def fit_height(width: int, src_width: int, src_height: int, shape: Shape) -> int:
    """Height for `width` that keeps the source's shape and stays in the ratio range."""
    height = round(width * src_height / src_width)
    # Rounding a scaled height can nudge the ratio just past a limit.
    lowest = math.ceil(width / shape.max_ratio)
    highest = math.floor(width / shape.min_ratio)
    return min(max(height, lowest), highest)


def centre_box(width: int, height: int, ratio: Fraction) -> tuple[int, int]:
    """The largest width × height of shape ``ratio`` inside the picture."""
    if Fraction(width, height) > ratio:
        return max(1, math.floor(height * ratio)), height
    return width, max(1, math.floor(width / ratio))


def plan_crop(
    stored_size: tuple[int, int],
    swap: bool,
    shape: Shape,
    ratio: Fraction | None = None,
    min_width: int | None = None,
) -> Plan:
    """Work out the centred crop and output size, checking ratio and width."""
    stored_w, stored_h = stored_size
    width, height = (stored_h, stored_w) if swap else (stored_w, stored_h)
    if ratio is not None:
        width, height = centre_box(width, height, ratio)
    crop_w, crop_h = trim_to_ratio(width, height, shape)
    if crop_w < MIN_WIDTH:
        raise ImageRejected(
            f"This image is only {crop_w} px wide; Instagram needs at least "
            f"{MIN_WIDTH} px."
        )
    out_w = min(crop_w, MAX_WIDTH)
    if min_width:  # the largest reduction libjpeg can do that stays wide enough
        factor = max(f for f in (1, 2, 4, 8) if crop_w // f >= min_width or f == 1)
        out_w = min(out_w, crop_w // factor)
    out_h = fit_height(out_w, crop_w, crop_h, shape)
    if swap:
        crop_w, crop_h, out_w, out_h = crop_h, crop_w, out_h, out_w
    left, top = (stored_w - crop_w) // 2, (stored_h - crop_h) // 2
    return Plan((left, top, left + crop_w, top + crop_h), (out_w, out_h))
