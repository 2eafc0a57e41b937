"""What Instagram accepts for each kind of video post, and how we refuse the rest.

Figures come from Meta's IG User Media reference as quoted in
``shared/docs/graph-api.md`` §7.1 (Reels) and §7.2 (Stories); the reference
gives none for videos inside carousels (§7.4), so those apply the feed-video
figures third-party guides quote from the same reference (see the README's
"Video" section).  Sizes are decimal megabytes, as Meta writes them, so we stay
under the limit whichever way Meta counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


class VideoRejected(ValueError):
    """The video can't be posted; ``message`` says why, for the user.

    ``reason`` is a short stable code (``too_short``, ``no_video``, ``timeout``
    ...) for callers and tests; ``retry`` is True only when the same file may
    well go through on another attempt (the converter crashed or was busy).
    """

    def __init__(self, reason: str, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry = retry


@dataclass(frozen=True)
class Spec:
    """The limits one kind of video post must meet."""

    kind: str  # "reel", "story", "carousel"
    label: str  # how the user calls it: "a Reel"
    min_seconds: float
    max_seconds: float
    max_bytes: int
    # The shape we give the video: exactly `target_ratio` for Reels and Stories
    # (9:16, what the app shows full screen); for carousel videos anything in
    # [min_ratio, max_ratio] is kept and only outliers are cropped or padded.
    min_ratio: Fraction
    max_ratio: Fraction
    target_ratio: Fraction | None


MB = 1_000_000
MAX_UPLOAD_BYTES = 1_000 * MB  # what the composer accepts before converting
MIN_FPS, MAX_FPS = 23, 60
MAX_VIDEO_BITRATE = 25_000_000  # Meta: VBR, 25 Mbps maximum
MAX_AUDIO_RATE = 48_000
MAX_AUDIO_CHANNELS = 2
# Meta lists 128 kbps for audio; copying a stream that is a little richer is
# harmless, re-encoding a 320 kbps track is cheap.
MAX_COPY_AUDIO_BITRATE = 160_000
MAX_LONG_SIDE, MAX_SHORT_SIDE = 1920, 1080
PUBLISHED_VIDEO_CODECS = ("h264", "hevc")
# 4:2:0 with 8 bits per sample; "yuvj420p" is the same layout in full range.
PUBLISHED_PIXEL_FORMATS = ("yuv420p", "yuvj420p")
NINE_SIXTEEN = Fraction(9, 16)
# A ratio this close to the target is the encoder's rounding (1080x1918),
# not a different shape: it is kept as it is.
RATIO_TOLERANCE = Fraction(1, 100)

SPECS = {
    "reel": Spec(
        "reel", "a Reel", 3, 15 * 60, 300 * MB,
        Fraction(1, 100), Fraction(10), NINE_SIXTEEN,
    ),
    "story": Spec(
        "story", "a Story", 3, 60, 100 * MB,
        Fraction(1, 100), Fraction(10), NINE_SIXTEEN,
    ),
    "carousel": Spec(
        "carousel", "a carousel video", 3, 60, 100 * MB,
        Fraction(4, 5), Fraction(16, 9), None,
    ),
}  # fmt: skip

FITS = ("pad", "crop")


def spec_for(kind: str) -> Spec:
    """The limits for ``kind`` ("reel", "story" or "carousel")."""
    try:
        return SPECS[kind]
    except KeyError:
        known = tuple(SPECS)
        raise ValueError(f"unknown video kind {kind!r}; use one of {known}") from None


def clock(seconds: float) -> str:
    """Write a duration the way people read it: "2.4 s", "1 min 05 s"."""
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"


def megabytes(size: int) -> str:
    """Write a byte count in decimal megabytes: "312 MB", "1.2 GB"."""
    if size >= 1000 * MB:
        return f"{size / (1000 * MB):.1f} GB"
    return f"{max(1, round(size / MB))} MB"
