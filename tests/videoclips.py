"""Short test videos made with PyAV, so no video file lives in the repository.

``make_clip`` writes a few seconds of a picture that shows which way is up (a
red block in the top-left corner of the upright picture) with a moving bar,
in any codec and container PyAV writes, optionally stored sideways with a
phone's rotation tag, at a variable frame rate, with or without sound, and
with location metadata.  ``assert_instagram_ready`` checks a converted file
the way Meta's specs read.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ospost.media.probe import mp4_layout
from ospost.media.probe import probe

SMALL = (320, 568)  # upright, about 9:16: big enough to mean something, fast
LOCATION = "+48.8584+002.2945/"
# Keys FFmpeg's MP4 demuxer reports for any file, ours included.
HARMLESS_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}


def upright_picture(width: int, height: int, index: int) -> np.ndarray:
    """An RGB picture with red in the top-left quarter and a bar that moves."""
    picture = np.empty((height, width, 3), np.uint8)
    ramp = np.linspace(30, 220, height, dtype=np.uint8)[:, None]
    picture[..., 0] = ramp
    picture[..., 1] = (index * 8) % 200
    picture[..., 2] = 250 - ramp
    picture[: height // 4, : width // 4] = (255, 0, 0)
    x = (index * 7) % max(1, width - 10)
    picture[height // 2 :, x : x + 10] = 255
    return picture


def make_clip(
    path: Path,
    *,
    codec: str = "libx264",
    size: tuple[int, int] = SMALL,
    fps: int = 30,
    seconds: float = 3.2,
    audio: str | None = "aac",
    sample_rate: int = 48_000,
    layout: str = "stereo",
    rotation: int = 0,
    variable_rate: bool = False,
    metadata: dict[str, str] | None = None,
    fmt: str | None = None,
) -> Path:
    """Write a test video to ``path`` and return the path.

    ``size`` is the upright picture; with ``rotation`` (degrees counter-
    clockwise, as FFmpeg reports a phone's tag) the frames are stored turned
    the other way, so a player that honours the tag shows ``size`` upright.
    """
    out = av.open(str(path), "w", format=fmt)
    out.metadata.update(metadata or {})
    stream = out.add_stream(codec, rate=fps)
    width, height = size
    stored = (height, width) if rotation % 180 else (width, height)
    stream.width, stream.height = stored
    stream.pix_fmt = "yuv420p"
    if codec == "libx265":
        stream.options = {"x265-params": "log-level=error"}
    if variable_rate:
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
    if rotation:
        stream.set_display_rotation(rotation)
    sound = out.add_stream(audio, rate=sample_rate, layout=layout) if audio else None
    _write_pictures(out, stream, size, fps, seconds, rotation, variable_rate)
    if sound is not None:
        _write_tone(out, sound, seconds, sample_rate, layout)
    out.close()
    return path


def _write_pictures(out, stream, size, fps, seconds, rotation, variable_rate):
    clock = 0
    for index in range(int(seconds * fps)):
        picture = np.rot90(upright_picture(*size, index), k=-(rotation // 90))
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(picture), format="rgb24"
        )
        if variable_rate:  # 20 ms and 50 ms gaps in turn: 28.6 fps on average
            frame.pts, frame.time_base = clock, Fraction(1, 1000)
            clock += 20 if index % 2 else 50
        else:
            frame.pts, frame.time_base = index, Fraction(1, fps)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _write_tone(out, stream, seconds, rate, layout):
    size = stream.codec_context.frame_size or 1024
    channels = 1 if layout == "mono" else 2
    for start in range(0, int(seconds * rate), size):
        t = np.arange(start, start + size) / rate
        tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.tile(tone, (channels, 1)), format="fltp", layout=layout
        )
        frame.sample_rate, frame.pts = rate, start
        frame.time_base = Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def first_frame(path: Path) -> np.ndarray:
    """The first picture of a video, as stored (no rotation applied)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


def red_corner(picture: np.ndarray) -> str:
    """Which corner of a picture holds the red marker: "top-left", ..."""
    height, width = picture.shape[:2]
    corners = {
        "top-left": picture[: height // 8, : width // 8],
        "top-right": picture[: height // 8, -width // 8 :],
        "bottom-left": picture[-height // 8 :, : width // 8],
        "bottom-right": picture[-height // 8 :, -width // 8 :],
    }
    reds = {
        name: float(area[..., 0].mean()) - float(area[..., 1:].mean())
        for name, area in corners.items()
    }
    return max(reds, key=reds.get)


def assert_instagram_ready(path: Path, *, encoded: bool = True) -> None:
    """Check a converted file against Meta's Reels spec and our promises."""
    info = probe(path)
    assert info.container == "MP4"
    assert info.codec in ("h264", "hevc")
    if encoded:
        assert (info.codec, info.profile) == ("h264", "High")
        assert info.audio is not None
        assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == (
            "aac", 48_000, 2,
        )  # fmt: skip
    assert info.pixel_format == "yuv420p"
    assert max(info.width, info.height) <= 1920 and min(info.width, info.height) <= 1080
    assert info.width % 2 == 0 and info.height % 2 == 0
    assert info.rotation == 0
    assert not info.variable_rate and info.fps is not None and 23 <= info.fps <= 60
    layout = mp4_layout(path)
    assert layout.top_level.index("moov") < layout.top_level.index("mdat")
    assert layout.edit_lists == 0
    with av.open(str(path)) as container:
        assert set(container.metadata) <= HARMLESS_TAGS, container.metadata
        for stream in container.streams:
            assert set(stream.metadata) <= {"language", "handler_name", "vendor_id"}
        assert LOCATION not in str(container.metadata)
