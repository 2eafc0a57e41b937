"""Cover pictures for videos: a frame of the video, or an uploaded image.

A cover is made once per post and gives the three pictures the app shows: the
poster (the whole frame, for the post page and the 9:16 Story preview), the
grid tile (the middle 3:4, as Instagram's profile grid shows a Reel) and the
Story strip's circle (the middle square).  An uploaded cover also becomes the
clean JPEG that Meta fetches as ``cover_url``.
"""

from __future__ import annotations

import io
import logging
import typing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from ospost import images
from ospost.media.probe import MSG_DAMAGED
from ospost.media.probe import picture_stream
from ospost.media.specs import VideoRejected

log = logging.getLogger(__name__)

POSTER_WIDTH = 1080
TILE_SIZE = (480, 640)  # 3:4, the profile grid's shape since 2025
STRIP_SIZE = (240, 240)
QUALITY = 85


@dataclass(frozen=True)
class Cover:
    """The pictures made from one cover, as JPEG bytes without metadata."""

    poster: bytes  # the whole picture, at most 1080 px wide
    tile: bytes  # middle 3:4 for the grid
    strip: bytes  # middle square for the Story strip
    offset_ms: int | None  # where in the video it was taken; None if uploaded


def cover_from_video(path: str | Path, offset_ms: int) -> Cover:
    """Take the frame shown ``offset_ms`` into the video (the last one if past
    the end) and make the cover pictures from it, turned upright."""
    picture, taken_ms = frame_at(path, offset_ms)
    return _cover(picture, taken_ms)


def cover_from_upload(stream: typing.BinaryIO) -> Cover:
    """Make a Reel's cover from an uploaded image, checked like a photo.

    The image goes through ``images.process_upload`` with the Reel cover's
    9:16 shape (format by content, upright, sRGB, no metadata); its poster is
    the JPEG to publish as ``cover_url``.  Raises ``images.ImageRejected``.
    """
    processed = images.process_upload(stream, shape=images.REEL_COVER_SHAPE)
    with Image.open(io.BytesIO(processed.jpeg)) as im:
        picture = im.convert("RGB")
    tile, strip = _crops(picture)
    return Cover(processed.jpeg, tile, strip, None)


def cover_in_shape(poster: bytes, ratio: Fraction, fit: str) -> Cover:
    """Reshape a cover to a carousel's shape (``ratio``, width/height) the way
    its video will be: black bars around it ("pad") or its middle ("crop").
    The composer's stand-in until the conversion makes the real one."""
    with Image.open(io.BytesIO(poster)) as im:
        picture = im.convert("RGB")
    width, height = picture.size
    if fit == "crop":
        box = _middle_box(width, height, float(ratio))
        picture = picture.crop(box)
    else:
        canvas_w = max(width, round(height * ratio))
        canvas_h = max(height, round(canvas_w / ratio))
        canvas = Image.new("RGB", (canvas_w, canvas_h))
        canvas.paste(picture, ((canvas_w - width) // 2, (canvas_h - height) // 2))
        picture = canvas
    return _cover(picture, 0)


def frame_at(path: str | Path, offset_ms: int) -> tuple[Image.Image, int]:
    """Decode the upright picture at ``offset_ms``; returns it and its real offset."""
    wanted = max(0, offset_ms) / 1000
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = picture_stream(container)
            frame = _frame_near(container, stream, wanted)
    except MemoryError:  # the ceiling, not a bad file: let the caller say so
        raise
    except av.FFmpegError as exc:
        log.info("no frame at %s ms: %s", offset_ms, exc)
        raise VideoRejected("damaged", MSG_DAMAGED) from None
    if frame is None:
        raise VideoRejected("damaged", MSG_DAMAGED)
    picture = frame.to_image().rotate(frame.rotation, expand=True)
    return picture, round((frame.time or 0) * 1000)


def _frame_near(container, stream, seconds: float):
    """The first frame at or after ``seconds``, else the last frame there is."""
    if seconds > 0 and stream.time_base:
        container.seek(int(seconds / stream.time_base), stream=stream)
    last = None
    for frame in container.decode(stream):
        if frame.time is not None and frame.time >= seconds:
            return frame
        last = frame
    if last is None and seconds > 0:
        # Past the end, the seek found nothing to decode: look from the start.
        container.seek(0)
        for last in container.decode(stream):  # noqa: B007 - keep the last one
            pass
    return last


def _cover(picture: Image.Image, offset_ms: int | None) -> Cover:
    poster = picture
    if picture.width > POSTER_WIDTH:
        height = round(picture.height * POSTER_WIDTH / picture.width)
        poster = picture.resize((POSTER_WIDTH, height), Image.Resampling.LANCZOS)
    tile, strip = _crops(picture)
    return Cover(_jpeg(poster), tile, strip, offset_ms)


def _crops(picture: Image.Image) -> tuple[bytes, bytes]:
    """The grid tile (middle 3:4) and the strip circle (middle square)."""
    return (
        _jpeg(_middle(picture, TILE_SIZE)),
        _jpeg(_middle(picture, STRIP_SIZE)),
    )


def _middle(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Cut the middle of ``picture`` to the shape of ``size`` and scale it there."""
    box = _middle_box(*picture.size, size[0] / size[1])
    return picture.resize(size, Image.Resampling.LANCZOS, box=box)


def _middle_box(width: int, height: int, want: float) -> tuple[int, int, int, int]:
    """The middle part of a width x height picture of shape ``want``."""
    if width / height > want:
        crop_w = round(height * want)
        return ((width - crop_w) // 2, 0, (width - crop_w) // 2 + crop_w, height)
    crop_h = round(width / want)
    return (0, (height - crop_h) // 2, width, (height - crop_h) // 2 + crop_h)


def _jpeg(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()
