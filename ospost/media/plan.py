"""Decide, from a probed video, whether it can be posted and what must change.

``check`` refuses what no conversion can fix (too short, too long).
``make_plan`` works out the rest: copy the video stream when Instagram takes
it as it is (a remux still moves the index to the front and drops metadata),
otherwise re-encode it upright, in shape, in size and at a constant frame rate;
and copy, convert or add the sound track.  Every change gets a sentence the
post page can show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ospost.media.probe import VideoInfo
from ospost.media.specs import FITS
from ospost.media.specs import MAX_AUDIO_CHANNELS
from ospost.media.specs import MAX_AUDIO_RATE
from ospost.media.specs import MAX_COPY_AUDIO_BITRATE
from ospost.media.specs import MAX_FPS
from ospost.media.specs import MAX_LONG_SIDE
from ospost.media.specs import MAX_SHORT_SIDE
from ospost.media.specs import MAX_VIDEO_BITRATE
from ospost.media.specs import MIN_FPS
from ospost.media.specs import PUBLISHED_PIXEL_FORMATS
from ospost.media.specs import PUBLISHED_VIDEO_CODECS
from ospost.media.specs import RATIO_TOLERANCE
from ospost.media.specs import Spec
from ospost.media.specs import VideoRejected
from ospost.media.specs import clock

AUDIO_BITRATE = 128_000
AUDIO_RATE = 48_000
DEFAULT_FPS = Fraction(30)
# Rates a variable-rate clip is snapped to: what cameras record and players expect.
_STANDARD_RATES = tuple(
    Fraction(r)
    for r in ("24000/1001", "24", "25", "30000/1001", "30", "50", "60000/1001", "60")
)
# Room left under the size limit for the container and the encoder's overshoot.
_SIZE_MARGIN = Fraction(9, 10)
_MIN_BITRATE = 200_000
_CODEC_NAMES = {"h264": "H.264", "hevc": "HEVC", "vp9": "VP9", "vp8": "VP8",
                "av1": "AV1", "mpeg4": "MPEG-4", "prores": "ProRes"}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """What the converter does to one video."""

    copy_video: bool  # pass the compressed pictures through untouched
    audio: str  # "copy", "encode" or "silence"
    width: int  # output picture size (also when copying)
    height: int
    fps: Fraction  # constant output rate when encoding
    filters: tuple[tuple[str, str], ...]  # FFmpeg filter chain when encoding
    max_bitrate: int  # cap on the encoded video's bit rate (VBV)
    changes: tuple[str, ...]  # what happens, in words for the user


def check(info: VideoInfo, spec: Spec) -> None:
    """Refuse a video that no conversion can make fit ``spec``."""
    if info.duration < spec.min_seconds:
        raise VideoRejected(
            "too_short",
            f"This video is {clock(info.duration)} long; {spec.label} must be at "
            f"least {clock(spec.min_seconds)}.",
        )
    if info.duration > spec.max_seconds:
        raise VideoRejected(
            "too_long",
            f"This video is {clock(info.duration)} long; {spec.label} can be at "
            f"most {clock(spec.max_seconds)}. Trim it and try again.",
        )


def make_plan(
    info: VideoInfo, spec: Spec, fit: str = "pad", ratio: Fraction | None = None
) -> Plan:
    """Plan the conversion of a checked video for ``spec``.

    ``fit`` says how a picture of the wrong shape is made right: "pad" adds
    black bars, "crop" cuts the middle out.  ``ratio`` overrides the target
    shape (a carousel's videos take the shape of its first item); by default
    Reels and Stories become 9:16 and carousel videos keep any shape between
    4:5 and 16:9.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
    geometry = _geometry(info, spec, fit, ratio)
    fps, fps_change = _frame_rate(info)
    why_encode = _encode_reasons(info, spec, geometry, fps_change)
    copy_video = not why_encode
    audio = _audio_plan(info, copy_video)
    changes = list(why_encode)
    if audio == "silence":
        changes.append("Added a silent sound track.")
    elif audio == "encode" and info.audio is not None:
        changes.append("Converted the sound to AAC, 48 kHz stereo.")
    changes.append("Removed location and other metadata.")
    return Plan(
        copy_video=copy_video,
        audio=audio,
        width=geometry.width,
        height=geometry.height,
        fps=fps,
        filters=() if copy_video else _filters(info, geometry, fps),
        max_bitrate=_bitrate_cap(info, spec),
        changes=tuple(changes),
    )


@dataclass(frozen=True)
class _Geometry:
    crop: tuple[int, int] | None  # width, height cut from the middle (display px)
    scaled: tuple[int, int]  # picture size after scaling
    width: int  # output canvas (bigger than `scaled` when padding)
    height: int
    reshaped: str | None  # sentence when the shape changes


def _geometry(
    info: VideoInfo, spec: Spec, fit: str, ratio: Fraction | None
) -> _Geometry:
    width, height = info.display_size
    shape = Fraction(width, height)
    kept = min(max(shape, spec.min_ratio), spec.max_ratio)
    target = ratio or spec.target_ratio or kept
    if abs(shape - target) <= target * RATIO_TOLERANCE:
        scale = _fit_scale(width, height)
        size = (_even(width * scale), _even(height * scale))
        return _Geometry(None, size, *size, None)
    # Reshaping: work in exact fractions and derive the height from the width
    # through the ratio itself, so 9:16 comes out 1080x1920 and not 1080x1918.
    canvas = _box(width, height, target, inside=fit == "crop")
    scale = _fit_scale(*canvas)
    out_w = _even(canvas[0] * scale)
    out_h = _even(out_w / target)
    if max(out_w, out_h) > MAX_LONG_SIDE or min(out_w, out_h) > MAX_SHORT_SIDE:
        out_h = _even(canvas[1] * scale)
        out_w = _even(out_h * target)
    label = _ratio_label(target)
    if fit == "crop":
        crop = (_even(canvas[0]), _even(canvas[1]))
        return _Geometry(crop, (out_w, out_h), out_w, out_h, f"Cropped to {label}.")
    scaled = (min(out_w, _even(width * scale)), min(out_h, _even(height * scale)))
    return _Geometry(
        None, scaled, out_w, out_h, f"Added black bars to make it {label}."
    )


def _fit_scale(width: int, height: int) -> Fraction:
    """Scale factor (at most 1) that fits a picture in Instagram's size box."""
    long_side, short_side = max(width, height), min(width, height)
    return min(
        Fraction(1),
        Fraction(MAX_LONG_SIDE, long_side),
        Fraction(MAX_SHORT_SIDE, short_side),
    )


def _box(width: int, height: int, ratio: Fraction, inside: bool):
    """The exact box of shape ``ratio`` inside (crop) or around (pad) the picture."""
    if (Fraction(width, height) > ratio) == inside:
        return height * ratio, Fraction(height)
    return Fraction(width), width / ratio


def _even(value: Fraction | float | int) -> int:
    """Round to an even number of pixels (4:2:0 needs even sizes), at least 2."""
    return max(2, 2 * math.floor(Fraction(value) / 2 + Fraction(1, 2)))


def _ratio_label(ratio: Fraction) -> str:
    exact = ratio.limit_denominator(20)
    if exact == ratio:
        return f"{exact.numerator}:{exact.denominator}"
    return f"{float(ratio):.2f}:1"


def _frame_rate(info: VideoInfo) -> tuple[Fraction, str | None]:
    """The constant output rate, and a sentence when it differs from the source."""
    fps = info.fps
    if fps is None:
        return DEFAULT_FPS, "Set a constant frame rate of 30 fps."
    if info.variable_rate:
        if fps > MAX_FPS:
            target = DEFAULT_FPS
        else:
            target = min(_STANDARD_RATES, key=lambda r: abs(r - fps))
        return target, f"Made the frame rate constant at {_fps(target)} fps."
    if fps > MAX_FPS:
        return Fraction(MAX_FPS), f"Lowered the frame rate from {_fps(fps)} to 60 fps."
    if fps < MIN_FPS:
        return DEFAULT_FPS, f"Raised the frame rate from {_fps(fps)} to 30 fps."
    return fps, None


def _fps(rate: Fraction) -> str:
    return f"{float(rate):.2f}".rstrip("0").rstrip(".")


def _encode_reasons(
    info: VideoInfo, spec: Spec, geometry: _Geometry, fps_change: str | None
) -> list[str]:
    """Why the video stream must be re-encoded; empty when it can be copied."""
    reasons = []
    if info.codec not in PUBLISHED_VIDEO_CODECS:
        name = _CODEC_NAMES.get(info.codec, info.codec)
        reasons.append(f"Converted the picture from {name} to H.264.")
    elif info.pixel_format not in PUBLISHED_PIXEL_FORMATS or info.interlaced:
        reasons.append("Converted the picture to standard 8-bit H.264.")
    if info.rotation:
        reasons.append("Turned the picture upright.")
    if geometry.reshaped:
        reasons.append(geometry.reshaped)
    width, height = info.display_size
    if geometry.scaled != (width, height) and not geometry.crop:
        w, h = geometry.scaled
        reasons.append(f"Scaled the picture down from {width}×{height} to {w}×{h}.")
    if fps_change:
        reasons.append(fps_change)
    if _video_bitrate(info) > MAX_VIDEO_BITRATE:
        reasons.append("Compressed the picture to Instagram's 25 Mbps limit.")
    elif info.size > spec.max_bytes * _SIZE_MARGIN:
        reasons.append(f"Compressed the video to fit the limit for {spec.label}.")
    if info.sample_aspect != 1:
        reasons.append("Made the pixels square.")
    return reasons


def _video_bitrate(info: VideoInfo) -> int:
    if info.bit_rate:
        return info.bit_rate
    return int(info.size * 8 / max(info.duration, 0.001))


def _audio_plan(info: VideoInfo, copy_video: bool) -> str:
    """Copy a compliant AAC track when the video is copied too, else convert."""
    audio = info.audio
    if audio is None:
        return "silence"
    compliant = (
        audio.codec == "aac"
        and audio.profile in (None, "LC")
        and 0 < audio.sample_rate <= MAX_AUDIO_RATE
        and 0 < audio.channels <= MAX_AUDIO_CHANNELS
        and (audio.bit_rate or 0) <= MAX_COPY_AUDIO_BITRATE
    )
    return "copy" if compliant and copy_video else "encode"


def _bitrate_cap(info: VideoInfo, spec: Spec) -> int:
    """Highest video bit rate that keeps the whole file under the size limit."""
    budget = spec.max_bytes * 8 * _SIZE_MARGIN / max(info.duration, 1) - AUDIO_BITRATE
    # A budget this low can't be met: encode at the floor and let the size
    # check after converting say so.
    return int(min(MAX_VIDEO_BITRATE, max(budget, _MIN_BITRATE)))


_TRANSPOSE = {
    90: (("transpose", "cclock"),),
    180: (("hflip", ""), ("vflip", "")),
    270: (("transpose", "clock"),),
}


def _filters(
    info: VideoInfo, geometry: _Geometry, fps: Fraction
) -> tuple[tuple[str, str], ...]:
    """The FFmpeg filter chain that turns decoded frames into the output."""
    chain: list[tuple[str, str]] = []
    if info.interlaced:
        chain.append(("bwdif", ""))
    chain.extend(_TRANSPOSE.get(info.rotation, ()))
    if info.sample_aspect != 1:
        width, height = info.display_size
        chain.append(("scale", f"{width}:{height}"))
    if geometry.crop:
        chain.append(("crop", "{}:{}".format(*geometry.crop)))
    chain.append(("scale", "{}:{}".format(*geometry.scaled)))
    if geometry.scaled != (geometry.width, geometry.height):
        chain.append(
            ("pad", f"{geometry.width}:{geometry.height}:(ow-iw)/2:(oh-ih)/2:black")
        )
    chain += [("setsar", "1"), ("fps", str(fps)), ("format", "yuv420p")]
    return tuple(chain)
