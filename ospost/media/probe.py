"""Find out what an uploaded video really is, from its content alone.

``probe`` opens the file with PyAV (FFmpeg's demuxers and decoders), never
looking at its name, and reports the container, codecs, duration, size, frame
rate (and whether it varies), rotation and sound.  It decodes one frame, so a
file that opens but can't be played is caught here and not half-way through a
conversion.  Anything that isn't a readable video raises ``VideoRejected``.
"""

from __future__ import annotations

import logging
import os
import statistics
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ospost.media.specs import MAX_UPLOAD_BYTES
from ospost.media.specs import VideoRejected
from ospost.media.specs import megabytes

log = logging.getLogger(__name__)

MSG_EMPTY = "The uploaded file is empty. Choose a video and try again."
MSG_NOT_VIDEO = (
    "This file is not a video we can read. Upload an MP4, MOV or WebM video."
)
MSG_PHOTO = (
    "This file is a photo, not a video. To post a photo, choose Feed post or Story."
)
MSG_DAMAGED = "This video is damaged or incomplete and can't be read."
MSG_NO_PICTURE = "This file has sound but no picture. Upload a video."

# FFmpeg demuxers for what phones and cameras record (MP4/MOV/3GP, WebM/MKV,
# AVI, AVCHD's MPEG-TS).  Anything else FFmpeg can open (a JPEG, a GIF, a
# playlist, an image sequence) is refused: it isn't a video a person uploads.
_DEMUXERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "MP4",
    "matroska,webm": "Matroska",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
}
_PHOTO_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
_PHOTO_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif")
# Packets read to judge whether the frame rate is constant: ten seconds of a
# 30 fps video, a few megabytes of reading.
_RATE_SAMPLE = 300


@dataclass(frozen=True)
class AudioInfo:
    """The sound track: codec, AAC profile, sample rate, channels, bit rate."""

    codec: str
    profile: str | None
    sample_rate: int
    channels: int
    bit_rate: int | None


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as found by ``probe``."""

    container: str  # "MP4", "MOV", "3GP", "WebM", "Matroska", "AVI", "MPEG-TS"
    size: int  # bytes on disk
    duration: float  # seconds
    codec: str  # FFmpeg's name: "h264", "hevc", "vp9", "mpeg4", ...
    profile: str | None  # "High", "Main", ...
    pixel_format: str  # of the decoded pictures: "yuv420p", "yuv420p10le", ...
    width: int  # as stored, before rotation
    height: int
    sample_aspect: Fraction  # pixel shape; 1 for square pixels
    rotation: int  # degrees counter-clockwise to turn it upright: 0/90/180/270
    fps: Fraction | None  # average frame rate; None when the file doesn't say
    variable_rate: bool  # frames are not evenly spaced in time
    interlaced: bool
    bit_rate: int | None  # of the video stream, bits per second
    audio: AudioInfo | None
    faststart: bool  # MP4/MOV index (moov) before the media data
    edit_lists: int  # MP4/MOV edit lists (Meta asks for none)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as the video is watched: upright, square pixels."""
        width = round(self.width * self.sample_aspect)
        if self.rotation in (90, 270):
            return self.height, width
        return width, self.height

    @property
    def ratio(self) -> Fraction:
        width, height = self.display_size
        return Fraction(width, height)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Tell what video ``path`` holds, or raise ``VideoRejected`` saying why not.

    Refused: an empty file, one over the upload limit, anything that isn't a
    video container we accept (a photo gets its own message), a damaged file,
    one with sound only, and a video whose codec we can't decode.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise VideoRejected("empty", MSG_EMPTY)
    if size > MAX_UPLOAD_BYTES:
        raise VideoRejected(
            "too_big",
            f"This video is {megabytes(size)}; the largest we accept is "
            f"{megabytes(MAX_UPLOAD_BYTES)}. Trim it or export it at a lower "
            "quality.",
        )
    with open(path, "rb") as fh:
        head = fh.read(64)
    container = _open(path, head)
    try:
        return _inspect(container, path, head, size)
    finally:
        container.close()


def _open(path: Path, head: bytes) -> av.container.InputContainer:
    """Open the file with an accepted demuxer, or say what is wrong with it."""
    if _looks_like_photo(head):
        raise VideoRejected("photo", MSG_PHOTO)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except MemoryError:  # the ceiling, not a bad file: let the caller say so
        raise
    except av.FFmpegError as exc:
        log.info("video %s did not open: %s", path.name, exc)
        reason = "damaged" if _looks_like_video(head) else "not_video"
        message = MSG_DAMAGED if reason == "damaged" else MSG_NOT_VIDEO
        raise VideoRejected(reason, message) from None
    if container.format.name not in _DEMUXERS:
        container.close()
        raise VideoRejected("not_video", MSG_NOT_VIDEO)
    return container


def looks_like_photo(head: bytes) -> bool:
    """Whether a file's first 16 bytes are a photo's (JPEG, PNG, WebP, HEIC...)."""
    return _looks_like_photo(head)


def looks_like_video(head: bytes) -> bool:
    """Whether a file's first 16 bytes are a video container's we accept."""
    return _looks_like_video(head)


def _looks_like_photo(head: bytes) -> bool:
    if head.startswith(_PHOTO_SIGNATURES):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp" and head[8:12] in _PHOTO_BRANDS


def _looks_like_video(head: bytes) -> bool:
    """Whether the file starts like a container we accept (so: damaged, not alien)."""
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")
        or head.startswith(b"\x1a\x45\xdf\xa3")  # EBML: Matroska/WebM
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or (len(head) > 0 and head[0] == 0x47)  # MPEG-TS sync byte
    )


def _inspect(
    container: av.container.InputContainer, path: Path, head: bytes, size: int
) -> VideoInfo:
    stream = picture_stream(container)
    ctx = stream.codec_context
    _check_decoder(ctx.name)
    first = _first_frame(container, stream)
    timing = _timing(container, stream)
    layout = mp4_layout(path) if container.format.name.startswith("mov") else None
    return VideoInfo(
        container=_container_label(container.format.name, head),
        size=size,
        duration=timing.duration,
        codec=ctx.name,
        profile=stream.profile,
        pixel_format=first.format.name,
        width=first.width,
        height=first.height,
        sample_aspect=_sample_aspect(stream),
        rotation=round(first.rotation) % 360,
        fps=timing.fps,
        variable_rate=timing.variable,
        interlaced=bool(first.interlaced_frame),
        bit_rate=ctx.bit_rate or stream.bit_rate or None,
        audio=_audio(container),
        faststart=layout.faststart if layout else False,
        edit_lists=layout.edit_lists if layout else 0,
    )


def _check_decoder(name: str) -> None:
    try:
        av.codec.Codec(name, "r")
    except MemoryError:  # the ceiling, not a bad file: let the caller say so
        raise
    except (av.FFmpegError, ValueError):
        raise VideoRejected(
            "codec",
            f"This video is encoded as {name or 'an unknown format'}, which we "
            "can't read. Export it as an H.264 MP4 and try again.",
        ) from None


def picture_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The video track (not an embedded cover picture), or refuse the file."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if container.streams.audio:
        raise VideoRejected("no_video", MSG_NO_PICTURE)
    raise VideoRejected("no_video", MSG_NOT_VIDEO)


def _first_frame(
    container: av.container.InputContainer, stream: av.VideoStream
) -> av.VideoFrame:
    """Decode the first picture: proof the video plays, and its true rotation."""
    try:
        for frame in container.decode(stream):
            return frame
    except MemoryError:  # the ceiling, not a bad file: let the caller say so
        raise
    except (av.FFmpegError, ValueError) as exc:
        log.info("first frame did not decode: %s", exc)
    raise VideoRejected("damaged", MSG_DAMAGED)


@dataclass(frozen=True)
class _Timing:
    duration: float
    fps: Fraction | None
    variable: bool


def _timing(container: av.container.InputContainer, stream: av.VideoStream) -> _Timing:
    """Duration and frame rate, from the headers where they can be trusted.

    ``average_rate`` is frames over duration (what a viewer sees); the
    ``base_rate`` FFmpeg also offers is the finest rate that can represent every
    timestamp, which for a phone's variable-rate clip is double the real one.
    Whether frames are evenly spaced is judged from the packets' timestamps.
    """
    try:
        container.seek(0)
    except MemoryError:  # the ceiling, not a bad file: let the caller say so
        raise
    except av.FFmpegError:
        pass  # demuxing then starts after the decoded frame: a few stamps fewer
    stamps, last_end = [], None
    scan_all = not container.duration and not stream.duration
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                if len(stamps) < _RATE_SAMPLE:
                    stamps.append(packet.pts)
                end = packet.pts + (packet.duration or 0)
                last_end = end if last_end is None else max(last_end, end)
            if len(stamps) >= _RATE_SAMPLE and not scan_all:
                break
    except MemoryError:  # the ceiling, not a bad file: let the caller say so
        raise
    except av.FFmpegError as exc:
        log.info("demuxing stopped early: %s", exc)
    duration = _duration(container, stream, stamps, last_end)
    fps, variable = _rate(stream, stamps, duration)
    return _Timing(duration, fps, variable)


def _duration(container, stream, stamps: list[int], last_end: int | None) -> float:
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if stamps and last_end is not None and stream.time_base:
        return float((last_end - min(stamps)) * stream.time_base)
    raise VideoRejected("damaged", MSG_DAMAGED)


def _rate(
    stream: av.VideoStream, stamps: list[int], duration: float
) -> tuple[Fraction | None, bool]:
    """The average frame rate and whether frame spacing varies."""
    ordered = sorted(stamps)  # B-frames arrive out of display order
    deltas = [b - a for a, b in zip(ordered, ordered[1:], strict=False) if b > a]
    fps = stream.average_rate or None
    if fps is None and deltas and stream.time_base:
        fps = 1 / (statistics.median(deltas) * stream.time_base)
    if len(deltas) < 2:
        return fps, False
    typical = statistics.median(deltas)
    # Timestamps in coarse time bases are rounded (33 or 34 ms at 1/1000 for
    # 30 fps), so only gaps off by more than a tenth count as uneven.
    uneven = sum(1 for d in deltas if abs(d - typical) > max(1, typical / 10))
    if fps:
        fps = Fraction(fps).limit_denominator(1001)
    return fps, uneven > len(deltas) // 20


def _sample_aspect(stream: av.VideoStream) -> Fraction:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(sar) if sar and sar > 0 else Fraction(1)


def _audio(container: av.container.InputContainer) -> AudioInfo | None:
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    return AudioInfo(
        codec=ctx.name,
        profile=stream.profile,
        sample_rate=ctx.sample_rate or 0,
        channels=ctx.channels or 0,
        bit_rate=ctx.bit_rate or stream.bit_rate or None,
    )


def _container_label(demuxer: str, head: bytes) -> str:
    label = _DEMUXERS[demuxer]
    if label == "MP4" and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "MOV"
        if brand.startswith(b"3g"):
            return "3GP"
    if label == "Matroska" and b"webm" in head:
        return "WebM"
    if label == "MP4" and head[4:8] != b"ftyp":
        return "MOV"  # old QuickTime files start straight with their atoms
    return label


@dataclass(frozen=True)
class Mp4Layout:
    """The box structure that matters to Meta: index first, no edit lists."""

    top_level: tuple[str, ...]  # "ftyp", "moov", "mdat", ... in file order
    edit_lists: int

    @property
    def faststart(self) -> bool:
        names = list(self.top_level)
        return "moov" in names and (
            "mdat" not in names or names.index("moov") < names.index("mdat")
        )


def mp4_layout(path: str | os.PathLike) -> Mp4Layout:
    """List an MP4/MOV file's top-level boxes and count its edit lists."""
    top: list[str] = []
    edits = 0
    with open(path, "rb") as fh:
        end = os.fstat(fh.fileno()).st_size
        for name, start, size in _boxes(fh, 0, end):
            top.append(name)
            if name == "moov":
                edits = _count_edits(fh, start, size)
    return Mp4Layout(tuple(top), edits)


def _boxes(fh, offset: int, end: int):
    """Yield (type, payload offset, payload size) for each box in [offset, end)."""
    while offset + 8 <= end:
        fh.seek(offset)
        header = fh.read(16)
        size, kind = struct.unpack(">I4s", header[:8])
        skip = 8
        if size == 1 and len(header) == 16:
            size, skip = struct.unpack(">Q", header[8:16])[0], 16
        elif size == 0:
            size = end - offset
        if size < skip:
            return  # a broken box: stop rather than loop forever
        yield kind.decode("latin-1"), offset + skip, size - skip
        offset += size


def _count_edits(fh, start: int, size: int) -> int:
    count = 0
    for name, inner, inner_size in _boxes(fh, start, start + size):
        if name == "trak":
            count += sum(
                1 for kind, _, _ in _boxes(fh, inner, inner + inner_size)
                if kind == "edts"
            )  # fmt: skip
    return count
