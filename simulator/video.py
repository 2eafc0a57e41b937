"""Videos: Meta's crawler fetching a ``video_url`` and Meta checking the file.

The crawler streams the video to a temporary file (cut off past the size
limit); ``inspect_video`` opens it with PyAV and checks it against the Reels
and Stories specs (graph-api.md §7.1/§7.2).  A video Meta can't use does not
fail the create call: like Meta, the container is made and ends ``ERROR``
with subcode 2207026 once processing is over; the reason is kept for
``containers()``.
"""

import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import av
import urllib3

from simulator.errors import fetch_failed
from simulator.imaging import CRAWLER

logger = logging.getLogger("ospost.simulator")

MB = 1_000_000
# Per product: (shortest, longest) seconds and the largest file.
# A carousel's video items: Meta's reference gives no figures of its own
# (graph-api.md §7.4); these are the feed-video ones Ospost applies too
# (ospost/media/specs.py).
VIDEO_LIMITS = {
    "REELS": (3.0, 900.0, 300 * MB),
    "STORY": (3.0, 60.0, 100 * MB),
    "CAROUSEL_ITEM": (3.0, 60.0, 100 * MB),
}
VIDEO_CODECS = ("h264", "hevc")
PIXEL_FORMATS = ("yuv420p", "yuvj420p")
MIN_FPS, MAX_FPS = 23, 60
MAX_COLUMNS = 1920
MIN_RATIO, MAX_RATIO = Fraction(1, 100), Fraction(10)
MAX_BITRATE = 25_000_000


@dataclass
class VideoPart:
    """The video side of a container or post (the image fields cover the rest)."""

    url: str
    sha256: str = ""
    size: int = 0
    duration: float = 0.0
    width: int = 0
    height: int = 0
    codec: str = ""
    problem: str | None = None  # why Meta would refuse it (status ERROR)
    thumbnail_url: str | None = None  # what Graph reads give for the picture
    cover_url: str | None = None
    thumb_offset: int | None = None
    share_to_feed: bool = True
    collaborators: tuple[str, ...] = ()


def crawl_video(url: str, timeout: float, max_bytes: int) -> tuple[str, int, bool]:
    """Download ``url`` to a temporary file like Meta's crawler.

    Returns (path, bytes read, cut off past ``max_bytes``); the caller deletes
    the file.  A failed fetch is Meta's 9004/2207052, as for images.
    """
    try:
        resp = CRAWLER.request(
            "GET", url, timeout=timeout, retries=False, preload_content=False
        )
    except (urllib3.exceptions.HTTPError, ValueError) as exc:
        logger.info("crawler could not fetch %s: %s", url, exc)
        raise fetch_failed(url) from exc
    fd, path = tempfile.mkstemp(prefix="sim-video-", suffix=".bin")
    size, cut = 0, False
    try:
        if resp.status not in (200, 206):
            raise fetch_failed(url)
        with os.fdopen(fd, "wb") as out:
            for chunk in resp.stream(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    cut = True
                    break
                out.write(chunk)
    except urllib3.exceptions.HTTPError as exc:
        os.unlink(path)
        logger.info("crawler could not fetch %s: %s", url, exc)
        raise fetch_failed(url) from exc
    except BaseException:
        os.unlink(path)
        raise
    finally:
        if cut or not resp.isclosed():
            resp.close()
        resp.release_conn()
    return path, size, cut


def inspect_video(path: str, part: VideoPart, product: str) -> None:
    """Fill ``part`` with what the file holds and, if Meta would refuse it, why."""
    shortest, longest, _ = VIDEO_LIMITS[product]
    try:
        with av.open(path, metadata_errors="ignore") as container:
            facts = _facts(container)
    except (av.FFmpegError, StopIteration, IndexError, ValueError) as exc:
        logger.info("simulated Meta could not read the video: %s", exc)
        part.problem = "the file is not a video Meta can read"
        return
    part.duration, part.width, part.height, part.codec = facts[:4]
    part.problem = _problem(path, facts, shortest, longest)


def _facts(container):
    stream = container.streams.video[0]
    frame = next(container.decode(stream))
    width, height = frame.width, frame.height
    if round(frame.rotation) % 180:
        width, height = height, width
    duration = (container.duration or 0) / av.time_base
    audio = container.streams.audio[0] if container.streams.audio else None
    return (
        duration, width, height, stream.codec_context.name, frame.format.name,
        stream.average_rate, container.format.name, audio,
        stream.codec_context.bit_rate or stream.bit_rate or 0,
    )  # fmt: skip


def _problem(path: str, facts, shortest: float, longest: float) -> str | None:
    """The first way the video breaks Meta's spec, in words; None if it is fine."""
    duration, width, height, codec, pixels, fps, demuxer, audio, bitrate = facts
    rules = (
        (demuxer.startswith("mov"), f"container {demuxer} is not MOV/MP4"),
        (_moov_first(path), "the moov atom is not at the front of the file"),
        (codec in VIDEO_CODECS, f"video codec {codec} is not H.264/HEVC"),
        (pixels in PIXEL_FORMATS, f"pixel format {pixels} is not 4:2:0 8-bit"),
        (shortest <= duration <= longest, f"duration {duration:.1f} s is out of range"),
        (fps is not None and MIN_FPS <= fps <= MAX_FPS, f"frame rate {fps} fps"),
        (width <= MAX_COLUMNS, f"width {width} px is over {MAX_COLUMNS}"),
        (MIN_RATIO <= Fraction(width, height) <= MAX_RATIO, "aspect ratio"),
        (bitrate <= MAX_BITRATE, f"video bit rate {bitrate} is over 25 Mbps"),
        (_audio_ok(audio), "audio is not AAC, at most 48 kHz, mono or stereo"),
    )  # fmt: skip
    return next((why for ok, why in rules if not ok), None)


def _audio_ok(stream) -> bool:
    if stream is None:
        return True
    ctx = stream.codec_context
    return ctx.name == "aac" and ctx.sample_rate <= 48_000 and ctx.channels <= 2


def _moov_first(path: str) -> bool:
    """Whether the MP4 index (moov) comes before the media data (mdat)."""
    with open(path, "rb") as fh:
        end, offset = os.fstat(fh.fileno()).st_size, 0
        while offset + 8 <= end:
            fh.seek(offset)
            size, kind = struct.unpack(">I4s", fh.read(8))
            if kind in (b"moov", b"mdat"):
                return kind == b"moov"
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
            if size < 8:
                return False
            offset += size
    return False
