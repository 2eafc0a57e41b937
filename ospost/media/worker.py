"""The converter's child process: ``python -m ospost.media.worker``.

It reads one job (JSON, one line) on stdin and answers with JSON lines on
stdout: ``{"probed": info}`` once it knows the video, ``{"progress": 0.42}``
while converting, and finally ``{"result": ...}`` or ``{"rejected": {"reason",
"message", "retry"}}``.  Before it opens the untrusted file it limits itself:
resident memory (checked on every packet against the ceiling, with a wider
address-space limit as the hard backstop for allocations in C), CPU seconds (a
backstop for the parent's wall-clock limit), the size of files it may write, a
lower priority than the web workers, and death with its parent.
``ospost.media.jobs`` drives it.
"""

from __future__ import annotations

import base64
import ctypes
import dataclasses
import errno
import importlib
import json
import logging
import os
import pkgutil
import resource
import signal
import sys
import time
from fractions import Fraction

import av
from PIL import JpegImagePlugin  # noqa: F401 - see _preload()

from ospost.media import covers
from ospost.media.plan import check
from ospost.media.plan import make_plan
from ospost.media.probe import AudioInfo
from ospost.media.probe import VideoInfo
from ospost.media.probe import probe
from ospost.media.specs import VideoRejected
from ospost.media.specs import megabytes
from ospost.media.specs import spec_for
from ospost.media.transcode import convert

log = logging.getLogger("ospost.media.worker")

PR_SET_PDEATHSIG = 1
_PROGRESS_EVERY = 0.25  # seconds between progress lines


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job = json.loads(sys.stdin.readline())
    _preload()
    _limit_self(job["limits"])
    try:
        result = run(job)
    except VideoRejected as exc:
        _emit(rejected=_rejection(exc))
        return 0
    except MemoryError:
        _emit(rejected={"reason": "memory", "message": "", "retry": False})
        return 0
    except OSError as exc:
        if exc.errno == errno.EFBIG:  # RLIMIT_FSIZE: the output outgrew the limit
            _emit(rejected={"reason": "too_big", "message": "", "retry": False})
            return 0
        raise
    _emit(result=result)
    return 0


def _preload() -> None:
    """Import all of PyAV now: ``av.open`` loads some of its extension modules
    lazily, and mapping them under the memory ceiling could fail for want of
    address space, which is not the upload's fault.  Costs 0.08 s."""
    for module in pkgutil.walk_packages(av.__path__, "av."):
        if module.name not in ("av.__main__", "av.datasets"):
            importlib.import_module(module.name)


def _limit_self(limits: dict) -> None:
    """Cap this process before it touches the upload (see the module docstring)."""
    global _MEMORY_KB
    _MEMORY_KB = limits["memory_mb"] * 1024
    # Address space is not memory: every thread reserves an 8 MB stack and
    # PyAV alone maps 150 MB, so this limit sits well above the ceiling and
    # only stops a runaway allocation; the ceiling itself is the RSS check.
    space = (limits["memory_mb"] * 4 + 1024) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if limits.get("max_file_bytes"):
        size = int(limits["max_file_bytes"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        # Without this the kernel kills us with SIGXFSZ; with it, write()
        # fails with EFBIG and we can say what happened.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.nice(int(limits.get("nice", 0)))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent's kill must do
        pass
    if os.getppid() != limits["parent"]:
        sys.exit(1)  # the parent died before the line above took effect


def _inspect(job: dict) -> dict:
    info = probe(job["src"])
    check(info, spec_for(job["kind"]))
    return {"info": info_to_json(info)}


def _prepare(job: dict) -> dict:
    spec = spec_for(job["kind"])
    info = probe(job["src"])
    check(info, spec)
    _emit(probed=info_to_json(info))
    ratio = Fraction(job["ratio"]) if job.get("ratio") else None
    plan = make_plan(info, spec, job.get("fit", "pad"), ratio)
    convert(job["src"], job["dst"], plan, info, _Reporter())
    output = probe(job["dst"])
    if output.size > spec.max_bytes:
        raise VideoRejected(
            "too_big",
            f"Even converted, this video is {megabytes(output.size)}; "
            f"{spec.label} can be at most {megabytes(spec.max_bytes)}. Trim it "
            "and try again.",
        )
    result = {
        "source": info_to_json(info),
        "output": info_to_json(output),
        "changes": list(plan.changes),
        "copied": plan.copy_video,
        **_usage(),
    }
    if job.get("cover_ms") is not None:
        cover = covers.cover_from_video(job["dst"], int(job["cover_ms"]))
        result["cover"] = cover_to_json(cover)
    return result


def _usage() -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    return {"peak_rss_kb": peak_rss_kb(), "cpu_seconds": cpu}


def peak_rss_kb() -> int:
    """This process's own peak resident memory, in KiB.

    From /proc (VmHWM): ``ru_maxrss`` would also count the parent's memory,
    which Linux carries into a forked-then-exec'd child's figure.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cover(job: dict) -> dict:
    return {"cover": cover_to_json(covers.cover_from_video(job["src"], job["ms"]))}


_OPS = {"inspect": _inspect, "prepare": _prepare, "cover": _cover}


def run(job: dict) -> dict:
    """Do one job in this process, without limits (tests call this directly)."""
    return _OPS[job["op"]](job)


_MEMORY_KB = 0  # resident-memory ceiling, set by _limit_self (0: none)


class _Reporter:
    """Progress callback: enforces the memory ceiling on every call and writes
    a progress line at most every quarter second."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        if _MEMORY_KB and peak_rss_kb() > _MEMORY_KB:
            raise MemoryError("over the memory ceiling")
        now = time.monotonic()
        if now - self.last >= _PROGRESS_EVERY or fraction >= 1.0:
            self.last = now
            _emit(progress=round(fraction, 4))


def _emit(**message) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _rejection(exc: VideoRejected) -> dict:
    return {"reason": exc.reason, "message": exc.message, "retry": exc.retry}


# -- the wire format shared with ospost.media.jobs ---------------------------


def info_to_json(info: VideoInfo) -> dict:
    """A ``VideoInfo`` as JSON-friendly values (fractions as "num/den")."""
    values = dataclasses.asdict(info)
    for key in ("sample_aspect", "fps"):
        if values[key] is not None:
            values[key] = str(values[key])
    return values


def info_from_json(values: dict) -> VideoInfo:
    """Undo ``info_to_json``."""
    values = dict(values)
    for key in ("sample_aspect", "fps"):
        if values[key] is not None:
            values[key] = Fraction(values[key])
    if values["audio"] is not None:
        values["audio"] = AudioInfo(**values["audio"])
    return VideoInfo(**values)


def cover_to_json(cover: covers.Cover) -> dict:
    values = dataclasses.asdict(cover)
    for key in ("poster", "tile", "strip"):
        values[key] = base64.b64encode(values[key]).decode()
    return values


def cover_from_json(values: dict) -> covers.Cover:
    values = dict(values)
    for key in ("poster", "tile", "strip"):
        values[key] = base64.b64decode(values[key])
    return covers.Cover(**values)


if __name__ == "__main__":
    av.logging.set_level(None)  # FFmpeg's chatter stays out of our stderr
    sys.exit(main())
