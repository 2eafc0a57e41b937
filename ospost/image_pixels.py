"""From the decoded upload to the final picture: crop, shrink, flatten, sRGB.

Memory is the constraint here: JPEGs are decoded at a reduced scale, other
formats are averaged down and converted a band of rows at a time, and the
LANCZOS pass reads its box straight from the decoded image.
"""

import io
import math
import struct
import typing

from PIL import Image
from PIL import ImageCms

from ospost.image_shape import Box
from ospost.image_shape import Plan

# Decoded modes the pipeline works in as they are (see `_to_working_mode`).
_NATIVE_MODES = ("L", "RGB", "CMYK")
# Rows converted at a time when shrinking: about 1 M source pixels per band.
_BAND_PIXELS = 1 << 20

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_ICC_SPACE_TO_MODE = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}
IntBox = tuple[int, int, int, int]


def draft(im: Image.Image, plan: Plan) -> Plan:
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
    return Plan(typing.cast(Box, box), plan.size)


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


def shrink(im: Image.Image, plan: Plan) -> tuple[Image.Image, Plan]:
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
        return _reduce(im, whole, 1), Plan(box, plan.size)
    whole = (round(left), round(top), round(right), round(bottom))
    box = (0, 0, (whole[2] - whole[0]) / factor, (whole[3] - whole[1]) / factor)
    return _reduce(im, whole, factor), Plan(box, plan.size)


def _reduce(im: Image.Image, box: IntBox, factor: int) -> Image.Image:
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


def resize(im: Image.Image, plan: Plan) -> Image.Image:
    """Scale the planned box of `im` to the planned size with LANCZOS."""
    left, top, right, bottom = plan.box
    if (right - left, bottom - top) == plan.size and all(
        float(edge).is_integer() for edge in plan.box
    ):
        # Nothing to scale: cut the box out (a copy, never the decoded file).
        return im.crop(tuple(int(edge) for edge in plan.box))
    return im.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)


def flatten(im: Image.Image, color: tuple[int, int, int]) -> Image.Image:
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


def to_srgb(im: Image.Image, icc_profile: bytes | None) -> Image.Image:
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
