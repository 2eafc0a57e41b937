"""Write the Instagram-ready MP4 that a ``Plan`` describes, with PyAV.

One pass over the source: packets are copied or decoded, pictures go through
an FFmpeg filter graph (upright, crop/pad, scale, constant rate, 4:2:0) into
libx264 (High profile), sound is copied, converted to AAC 48 kHz stereo or
replaced by silence.  The MP4 has its index in front (``faststart``), no edit
lists and none of the source's metadata.  This runs inside the converter's
child process (``ospost.media.worker``); it knows nothing about limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

from ospost.media.plan import AUDIO_BITRATE
from ospost.media.plan import AUDIO_RATE
from ospost.media.plan import Plan
from ospost.media.probe import VideoInfo
from ospost.media.probe import picture_stream
from ospost.media.specs import VideoRejected
from ospost.media.specs import clock

log = logging.getLogger(__name__)

# Meta asks for the index in front and no edit lists (graph-api.md §7.1).
MUX_OPTIONS = {"movflags": "+faststart", "use_editlist": "0"}
X264_OPTIONS = {"profile": "high", "preset": "veryfast", "crf": "23"}
SILENCE_SAMPLES = 1024
# A file that yields less than this share of its announced duration was cut
# short (an interrupted upload): better refused than posted half.
_MIN_COMPLETE = 0.9

Progress = Callable[[float], None]


def convert(
    src: str | Path, dst: str | Path, plan: Plan, info: VideoInfo,
    progress: Progress | None = None,
) -> None:  # fmt: skip
    """Write ``dst`` from ``src`` as ``plan`` says, calling ``progress(0..1)``."""
    with (
        av.open(str(src), metadata_errors="ignore") as source,
        av.open(str(dst), "w", format="mp4", options=MUX_OPTIONS) as out,
    ):
        job = _Job(source, out, plan, info, progress or (lambda _f: None))
        job.run()
    if job.written < info.duration * _MIN_COMPLETE:
        raise VideoRejected(
            "damaged",
            f"This video is damaged or incomplete: only {clock(job.written)} of "
            f"its {clock(info.duration)} could be read.",
        )


class _Job:
    """One conversion: the open files, the streams and how far it got."""

    def __init__(self, source, out, plan: Plan, info: VideoInfo, progress: Progress):
        self.source, self.out, self.plan, self.info = source, out, plan, info
        self.progress = progress
        self.vin = picture_stream(source)
        self.ain = source.streams.audio[0] if source.streams.audio else None
        self.start = self._start_time()
        self.written = 0.0  # seconds of picture handled so far
        self.silence_pts = 0
        self.vout = self._video_stream()
        self.aout = self._audio_stream()
        self.graph = None if plan.copy_video else _filter_graph(self.vin, plan)

    def _start_time(self) -> Fraction:
        start = self.vin.start_time
        return Fraction(start * self.vin.time_base) if start else Fraction(0)

    def _video_stream(self):
        if self.plan.copy_video:
            stream = self.out.add_stream_from_template(self.vin)
            stream.metadata.clear()
            return stream
        # The encoder's size is fixed before the first packet is muxed: muxing
        # opens every encoder, and one opened early keeps FFmpeg's 640x480.
        stream = self.out.add_stream("libx264", rate=self.plan.fps)
        stream.width, stream.height = self.plan.width, self.plan.height
        stream.pix_fmt = "yuv420p"
        cap = self.plan.max_bitrate
        stream.options = {**X264_OPTIONS, "maxrate": str(cap), "bufsize": str(2 * cap)}
        self.vin.thread_type = "AUTO"  # frame threads: decoding keeps up with x264
        return stream

    def _audio_stream(self):
        if self.plan.audio == "copy":
            stream = self.out.add_stream_from_template(self.ain)
            stream.metadata.clear()
            return stream
        stream = self.out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        stream.bit_rate = AUDIO_BITRATE
        return stream

    def run(self) -> None:
        demuxed = [self.vin]
        if self.ain is not None and self.plan.audio != "silence":
            demuxed.append(self.ain)
        for packet in self.source.demux(*demuxed):
            if packet.stream is self.vin:
                self._picture(packet)
            else:
                self._sound(packet)
            if self.plan.audio == "silence":
                self._silence_until(self.written)
        self._finish()

    def _picture(self, packet) -> None:
        if packet.pts is not None:
            self.written = max(self.written, self._seconds(packet.pts, packet))
            self.progress(min(1.0, self.written / max(self.info.duration, 0.001)))
        if self.plan.copy_video:
            if packet.dts is not None:  # the demuxer's empty end-of-stream packet
                packet.stream = self.vout
                self.out.mux(packet)
            return
        for frame in _decode(packet):
            self.graph.push(frame)
            self._drain_graph()

    def _seconds(self, pts: int, packet) -> float:
        end = pts + (packet.duration or 0)
        return float(end * packet.time_base - self.start)

    def _sound(self, packet) -> None:
        if self.plan.audio == "copy":
            if packet.dts is not None:
                packet.stream = self.aout
                self.out.mux(packet)
            return
        for frame in _decode(packet):
            frame.pts = None  # the resampler in encode() keeps its own clock
            self.out.mux(self.aout.encode(frame))

    def _drain_graph(self) -> None:
        while True:
            try:
                frame = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            # A decoded frame keeps its source picture type, and libx264 obeys
            # an I: the source's keyframes would be forced on the output
            # (measured: 17% bigger files).  The ffmpeg CLI clears it too.
            frame.pict_type = av.video.frame.PictureType.NONE
            self.out.mux(self.vout.encode(frame))

    def _silence_until(self, seconds: float) -> None:
        while self.silence_pts < seconds * AUDIO_RATE:
            frame = av.AudioFrame(
                format="fltp", layout="stereo", samples=SILENCE_SAMPLES
            )
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.silence_pts
            frame.time_base = Fraction(1, AUDIO_RATE)
            self.silence_pts += SILENCE_SAMPLES
            self.out.mux(self.aout.encode(frame))

    def _finish(self) -> None:
        if self.graph is not None:
            self.graph.push(None)
            self._drain_graph()
            self.out.mux(self.vout.encode(None))
        if self.plan.audio == "silence":
            self._silence_until(self.written)
        if self.plan.audio != "copy":
            self.out.mux(self.aout.encode(None))
        self.progress(1.0)


def _decode(packet):
    """Decode one packet; a damaged packet is skipped (counted by its absence)."""
    try:
        return packet.decode()
    except MemoryError:  # the ceiling, not a bad file: let the caller say so
        raise
    except av.FFmpegError as exc:
        log.info("skipping a packet that did not decode: %s", exc)
        return []


def _filter_graph(stream, plan: Plan) -> av.filter.Graph:
    graph = av.filter.Graph()
    node = graph.add_buffer(template=stream)
    for name, args in plan.filters:
        nxt = graph.add(name, args or None)
        node.link_to(nxt)
        node = nxt
    sink = graph.add("buffersink")
    node.link_to(sink)
    graph.configure()
    return graph
