"""Run the converter in a child process, a bounded number at a time.

Why a child process and not a thread: FFmpeg parses untrusted uploads, and a
crash or runaway allocation in C code would take the whole web worker down
with it.  A child's memory is its own to measure and cap (its resident size
is checked on every packet and watched from here, and ``RLIMIT_AS`` is the
hard backstop in C code), ``RLIMIT_CPU`` backs up the wall-clock limit, and it
can be killed cleanly when it overruns (threads can't be killed).  Starting
it costs about 0.2 s, nothing next to a conversion.

Everything here blocks: call it from a job or the engine, never from a
request.  A process-wide slot count (at most the CPU count) bounds how many
children run at once; callers wait for a slot.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from ospost.media.covers import Cover
from ospost.media.probe import VideoInfo
from ospost.media.specs import VideoRejected
from ospost.media.specs import clock
from ospost.media.specs import spec_for
from ospost.media.worker import cover_from_json
from ospost.media.worker import info_from_json

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
PROBE_SECONDS = 60  # a probe reads headers and one frame; a minute is generous
PRIVATE_FILE = 0o600  # like every upload (ospost.storage)


def cpu_count() -> int:
    """CPUs this process may run on (respects taskset/cgroup pinning)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Limits:
    """What one conversion may use; ``configure()`` sets the process-wide ones."""

    memory_mb: int = 768  # resident-memory ceiling of the child
    # Wall-clock limit: a fixed allowance plus so many seconds per second of
    # video; ``time_limit`` (seconds) replaces the formula when set.
    base_seconds: float = 60
    seconds_per_second: float = 4
    time_limit: float | None = None
    nice: int = 5  # below the web workers
    slot_wait: float | None = None  # seconds to wait for a free slot; None: forever

    def for_duration(self, duration: float) -> float:
        if self.time_limit is not None:
            return self.time_limit
        return self.base_seconds + self.seconds_per_second * duration


class Slots:
    """A resizable semaphore that also remembers its busiest moment."""

    def __init__(self, size: int) -> None:
        self._cond = threading.Condition()
        self.size = size
        self.in_use = 0
        self.peak = 0

    def resize(self, size: int) -> None:
        with self._cond:
            self.size = size
            self._cond.notify_all()

    def acquire(self, timeout: float | None) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self.in_use < self.size, timeout):
                return False
            self.in_use += 1
            self.peak = max(self.peak, self.in_use)
            return True

    def release(self) -> None:
        with self._cond:
            self.in_use -= 1
            self._cond.notify()


SLOTS = Slots(max(1, cpu_count() // 2))
_limits = Limits()


def configure(slots: int | None = None, **limits) -> Limits:
    """Set the process-wide converter limits; returns the ones now in force.

    ``slots`` (parallel conversions) defaults to half the CPUs, as libx264
    already uses every core, and is refused above the CPU count.  Other
    keywords are ``Limits`` fields.
    """
    global _limits
    if slots is not None:
        if not 1 <= slots <= cpu_count():
            raise ValueError(f"slots must be between 1 and {cpu_count()} (CPUs)")
        SLOTS.resize(slots)
    _limits = replace(_limits, **limits)
    return _limits


def init_app(app) -> None:
    """Apply ``VIDEO_*`` settings from a Flask app's config, where present."""
    settings = {
        "slots": app.config.get("VIDEO_TRANSCODE_SLOTS"),
        "memory_mb": app.config.get("VIDEO_MEMORY_MB"),
        "time_limit": app.config.get("VIDEO_TIME_LIMIT_SECONDS"),
    }
    slots = settings.pop("slots")
    configure(slots, **{k: v for k, v in settings.items() if v is not None})


Progress = Callable[[float], None]


@dataclass(frozen=True)
class Prepared:
    """An Instagram-ready MP4 and what was done to get it."""

    path: Path
    source: VideoInfo  # the upload, as probed
    output: VideoInfo  # the file written
    changes: tuple[str, ...]  # sentences for the post page
    copied: bool  # the picture was passed through, not re-encoded
    cover: Cover | None
    seconds: float  # wall time, waiting for a slot not included
    peak_rss_mb: float  # the converter's peak resident memory
    cpu_seconds: float  # the converter's CPU time, all threads


def inspect_upload(
    path: str | Path, kind: str, *, limits: Limits | None = None
) -> VideoInfo:
    """Probe an upload and check it against ``kind``'s limits, in a child.

    For the upload request: quick (headers and one frame), and refuses with
    ``VideoRejected`` what can't be posted at all (too short, too long, not a
    video, damaged...) before the user waits for a conversion.
    """
    spec_for(kind)
    job = {"op": "inspect", "src": _existing(path), "kind": kind}
    answer = _run(job, limits or _limits, None, max_file_bytes=None)
    return info_from_json(answer["result"]["info"])


def prepare_video(
    src: str | Path,
    dst: str | Path,
    kind: str,
    *,
    fit: str = "pad",
    ratio: Fraction | None = None,
    cover_ms: int | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
) -> Prepared:
    """Make ``dst`` an MP4 Instagram accepts as ``kind`` ("reel", "story",
    "carousel"), converting ``src`` only as much as needed.

    Blocks until done: call it from a background job.  ``progress(fraction)``
    is called from this thread as the conversion advances; ``cover_ms`` also
    makes the cover from that moment of the result.  On any failure
    ``VideoRejected`` says why and nothing is left at ``dst``; ``src`` is
    never changed.
    """
    spec = spec_for(kind)
    dst = Path(dst).absolute()
    part = dst.with_name(dst.name + ".part")
    job = {
        "op": "prepare", "src": _existing(src), "dst": str(part), "kind": kind,
        "fit": fit, "ratio": str(ratio) if ratio else None, "cover_ms": cover_ms,
    }  # fmt: skip
    try:
        answer = _run(
            job, limits or _limits, progress, max_file_bytes=int(spec.max_bytes * 1.1)
        )
        os.chmod(part, PRIVATE_FILE)
        os.replace(part, dst)
    finally:
        part.unlink(missing_ok=True)
    result = answer["result"]
    return Prepared(
        path=dst,
        source=info_from_json(result["source"]),
        output=info_from_json(result["output"]),
        changes=tuple(result["changes"]),
        copied=result["copied"],
        cover=cover_from_json(result["cover"]) if "cover" in result else None,
        seconds=answer["seconds"],
        peak_rss_mb=result["peak_rss_kb"] / 1024,
        cpu_seconds=result["cpu_seconds"],
    )


def make_cover(
    video: str | Path, offset_ms: int, *, limits: Limits | None = None
) -> Cover:
    """Make the cover pictures from the frame at ``offset_ms``, in a child."""
    job = {"op": "cover", "src": _existing(video), "ms": int(offset_ms)}
    answer = _run(job, limits or _limits, None, max_file_bytes=None)
    return cover_from_json(answer["result"]["cover"])


def _existing(path: str | Path) -> str:
    """The absolute path of a file the child will read (it runs elsewhere)."""
    path = Path(path).absolute()
    if not path.is_file():
        raise FileNotFoundError(path)
    return str(path)


def _run(
    job: dict, limits: Limits, progress: Progress | None, max_file_bytes: int | None
) -> dict:
    """Run one job in a child within a slot; returns its answer with timings."""
    if not SLOTS.acquire(limits.slot_wait):
        raise VideoRejected(
            "busy",
            "Ospost is busy converting other videos; try again in a few minutes.",
            retry=True,
        )
    try:
        return _Child(job, limits, max_file_bytes).run(progress)
    finally:
        SLOTS.release()


class _Child:
    """One converter process: start it, follow its lines, enforce its time."""

    def __init__(self, job: dict, limits: Limits, max_file_bytes: int | None) -> None:
        self.limits = limits
        self.timed_out = False
        self.over_memory = False
        # Until the video is probed its length is unknown: the probe gets its
        # own short limit, the conversion the one for its duration.
        self.time_limit = min(PROBE_SECONDS, limits.for_duration(0))
        cpu = int(limits.for_duration(15 * 60) * cpu_count()) + 10
        self.job = {
            **job,
            "limits": {
                "memory_mb": limits.memory_mb, "cpu_seconds": cpu,
                "nice": limits.nice, "max_file_bytes": max_file_bytes,
                "parent": os.getpid(),
            },
        }  # fmt: skip

    def run(self, progress: Progress | None) -> dict:
        started = time.monotonic()
        with tempfile.TemporaryFile() as errors:
            proc = self._start(errors)
            try:
                answer = self._follow(proc, started, progress)
            finally:
                _kill(proc)
            if answer is None:
                raise self._failure(proc, errors)
        answer["seconds"] = time.monotonic() - started
        if "rejected" in answer:
            raise self._rejection(answer["rejected"])
        return answer

    def _start(self, errors) -> subprocess.Popen:
        # Two malloc arenas instead of one per thread: x264's threads would
        # otherwise reserve 64 MB of address space each against RLIMIT_AS.
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {
            **os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONPATH": path,
            "PYTHONDONTWRITEBYTECODE": "1",
        }  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "ospost.media.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
            cwd=ROOT, env=env, start_new_session=True, close_fds=True,
        )  # fmt: skip
        proc.stdin.write((json.dumps(self.job) + "\n").encode())
        proc.stdin.close()
        return proc

    def _follow(self, proc, started: float, progress: Progress | None):
        """Read the child's lines until its answer, its exit or the deadline."""
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                left = started + self.time_limit - time.monotonic()
                if left <= 0:
                    self.timed_out = True
                    return None
                if not selector.select(timeout=min(left, 0.25)):
                    if _resident_mb(proc.pid) > self.limits.memory_mb:
                        self.over_memory = True  # stuck in C code past the ceiling
                        return None
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:  # the child exited without answering
                    try:
                        proc.wait(timeout=max(1.0, left))
                    except subprocess.TimeoutExpired:
                        self.timed_out = True
                    return None
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    message = json.loads(line)
                    if "progress" in message and progress is not None:
                        progress(message["progress"])
                    elif "probed" in message:
                        duration = message["probed"]["duration"]
                        self.time_limit = self.limits.for_duration(duration)
                    elif "result" in message or "rejected" in message:
                        return message

    def _failure(self, proc, errors) -> VideoRejected:
        errors.seek(0)
        tail = errors.read()[-2000:].decode(errors="replace")
        if self.over_memory:
            return self._rejection({"reason": "memory"})
        if self.timed_out:
            log.warning("video job stopped after %.0f s", self.time_limit)
            return VideoRejected(
                "timeout",
                f"Converting this video took longer than {clock(self.time_limit)} "
                "and was stopped. Try a shorter or smaller video.",
            )
        code = proc.returncode
        if code == -signal.SIGXCPU or code == -signal.SIGKILL:
            return VideoRejected(
                "timeout",
                "Converting this video used too much processing time and was "
                "stopped. Try a shorter or smaller video.",
            )
        log.error("video converter exited with %s: %s", code, tail)
        if any(sign in tail for sign in _OUT_OF_MEMORY):
            return self._rejection({"reason": "memory"})
        return VideoRejected(
            "crashed",
            "The video converter stopped unexpectedly. Try again; if it keeps "
            "failing, export the video as an H.264 MP4.",
            retry=True,
        )

    def _rejection(self, rejected: dict) -> VideoRejected:
        reason = rejected["reason"]
        if reason == "memory":
            return VideoRejected(
                "memory",
                f"Converting this video needed more than {self.limits.memory_mb} MB "
                "of memory and was stopped. Try a smaller video.",
            )
        if reason == "too_big" and not rejected.get("message"):
            return VideoRejected(
                "too_big",
                "Even converted, this video is too large for Instagram. Trim it "
                "and try again.",
            )
        return VideoRejected(reason, rejected["message"], retry=rejected["retry"])


# How running out of address space shows in a child's last words.
_OUT_OF_MEMORY = (
    "MemoryError", "Cannot allocate memory", "failed to map segment", "bad_alloc",
)  # fmt: skip


def _resident_mb(pid: int) -> float:
    """Peak resident memory of a live process, from /proc (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _kill(proc: subprocess.Popen) -> None:
    """End the child (and anything it started) if it is still running; reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    proc.stdout.close()
