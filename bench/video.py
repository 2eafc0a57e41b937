"""Time and measure Ospost's video conversion beside the ffmpeg command line.

Run from the project root:  .venv/bin/python bench/video.py [--rounds N]

Input, generated once into a temporary directory: a 60 s phone-style clip,
1080x1920 as watched, stored the way phones store it (1920x1080 with a
rotation tag), 30 fps, H.264 at about 16 Mbit/s with sensor-like grain, AAC
44.1 kHz stereo and a location tag.  Both contenders make an Instagram-ready
Reel of it (turned upright, <= 1080x1920, 30 fps, yuv420p, H.264 High
veryfast/CRF 23, AAC 48 kHz stereo 128k, faststart):

* Ospost: ``ospost.media.jobs.prepare_video`` (its child process; wall time
  from the call, peak RSS and CPU time of the child);
* baseline: Debian's ``/usr/bin/ffmpeg`` with the equivalent command line
  (it turns the picture upright by itself); CPU time from wait4, peak RSS
  from its /proc VmHWM read every 50 ms (``ru_maxrss`` would include this
  process's memory, which Linux carries into a child's figure).

The input is made in a separate process, so the bench itself stays small.

Rounds alternate the two so a change in machine load hits both; the machine
is shared, so the load average is printed and CPU time is the steadier
figure.  Targets: Ospost within 1.2x of the CLI's wall time, peak RSS < 400 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import report  # noqa: E402
from ospost.media import jobs  # noqa: E402
from ospost.media.probe import probe  # noqa: E402

FFMPEG = "/usr/bin/ffmpeg"
SECONDS, FPS = 60, 30
STORED = (1920, 1080)  # a portrait phone video: landscape pixels + rotation tag
VF = (
    "scale=w='min(iw,1080)':h='min(ih,1920)':force_original_aspect_ratio=decrease:"
    "force_divisible_by=2,fps=30,format=yuv420p"
)


def make_phone_clip(path: Path, seconds: int = SECONDS) -> None:
    """Write the benchmark's input (see the module docstring).

    The picture pans across a wide colour field with sensor-like grain: eight
    grainy fields are made once and each frame is a window into one of them,
    so making the clip costs little more than encoding it.
    """
    rng = np.random.default_rng(12)
    width, height = STORED
    ys, xs = np.mgrid[0:height, 0 : 2 * width]
    field = np.stack(
        [xs % 256, (ys / 4 + xs / 8) % 256, (xs / 2 + ys / 3) % 256], axis=-1
    ).astype(np.int16)
    fields = [
        np.clip(field + rng.integers(-12, 13, field.shape[:2] + (1,)), 0, 255).astype(
            np.uint8
        )
        for _ in range(8)
    ]
    with av.open(str(path), "w", format="mov") as out:
        out.metadata.update({"location": "+48.8584+002.2945/", "make": "Bench"})
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "b": "16M", "maxrate": "20M",
                         "bufsize": "20M"}  # fmt: skip
        video.set_display_rotation(-90)
        audio = out.add_stream("aac", rate=44_100, layout="stereo")
        for index in range(seconds * FPS):
            left = (index * 6) % width
            window = fields[index % len(fields)][:, left : left + width]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(window), "rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        _write_sound(out, audio, seconds)


def _write_sound(out, audio, seconds: int) -> None:
    rate, size = 44_100, 1024
    for start in range(0, seconds * rate, size):
        t = np.arange(start, start + size) / rate
        tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.stack([tone, tone]), format="fltp", layout="stereo"
        )
        frame.sample_rate, frame.pts = rate, start
        frame.time_base = Fraction(1, rate)
        out.mux(audio.encode(frame))
    out.mux(audio.encode(None))


def run_ospost(src: Path, dst: Path) -> dict:
    dst.unlink(missing_ok=True)
    started = time.monotonic()
    # nice 0: the same priority as the ffmpeg command (Ospost's default is 5).
    done = jobs.prepare_video(src, dst, "reel", limits=jobs.Limits(nice=0))
    return {
        "wall": time.monotonic() - started,
        "rss": done.peak_rss_mb,
        "cpu": done.cpu_seconds,
        "copied": done.copied,
    }


def run_cli(src: Path, dst: Path) -> dict:
    """The ffmpeg command line doing the same job; figures from wait4."""
    dst.unlink(missing_ok=True)
    cmd = [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
    if not probe(src).audio:
        cmd += ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
        cmd += ["-map", "0:v:0", "-map", "1:a:0", "-shortest"]
    cmd += ["-vf", VF, "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast"]
    cmd += ["-crf", "23", "-c:a", "aac", "-ar", "48000", "-ac", "2", "-b:a", "128k"]
    cmd += ["-movflags", "+faststart", str(dst)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd)
    peak_kb = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak_kb = max(peak_kb, _peak_kb(proc.pid))
        time.sleep(0.05)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"ffmpeg failed with {proc.returncode}")
    return {
        "wall": wall,
        "rss": peak_kb / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
    }


def _peak_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def describe(path: Path) -> str:
    info = probe(path)
    audio = info.audio
    sound = "-"
    if audio:
        sound = f"{audio.codec} {audio.sample_rate} Hz {audio.channels} ch"
    return (
        f"{info.codec} {info.profile} {info.pixel_format} {info.width}x{info.height} "
        f"{float(info.fps or 0):.2f} fps rot {info.rotation}, {sound}, "
        f"{info.size / 1e6:.1f} MB, faststart {info.faststart}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=SECONDS, help="clip length")
    parser.add_argument("--make-input", help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.make_input:
        make_phone_clip(Path(args.make_input), args.seconds)
        return 0
    if not shutil.which(FFMPEG):
        report(f"{FFMPEG} is missing: apt-get install ffmpeg")
        return 1
    with tempfile.TemporaryDirectory(prefix="ospost-bench-video-") as tmp:
        folder = Path(tmp)
        src = folder / "phone.mov"
        started = time.monotonic()
        subprocess.run(
            [sys.executable, __file__, "--make-input", str(src)]
            + ["--seconds", str(args.seconds)],
            check=True,
        )
        report(f"input: {describe(src)} (made in {time.monotonic() - started:.0f} s)")
        report(f"cpus {jobs.cpu_count()}, load before {os.getloadavg()}")
        results: dict[str, list[dict]] = {"ospost": [], "ffmpeg": []}
        for round_no in range(1, args.rounds + 1):
            for name, run in (("ospost", run_ospost), ("ffmpeg", run_cli)):
                figures = run(src, folder / f"{name}.mp4")
                results[name].append(figures)
                report(
                    f"round {round_no} {name:7s} wall {figures['wall']:6.1f} s  "
                    f"cpu {figures['cpu']:6.1f} s  peak RSS {figures['rss']:5.0f} MB"
                )
        report(f"load after {os.getloadavg()}")
        for name in results:
            report(f"{name:7s} output: {describe(folder / f'{name}.mp4')}")
        summary(results)
    return 0


def summary(results: dict[str, list[dict]]) -> None:
    med = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    ours, cli = med["ospost"], med["ffmpeg"]
    report(
        f"median wall: ospost {ours['wall']:.1f} s, ffmpeg {cli['wall']:.1f} s, "
        f"ratio {ours['wall'] / cli['wall']:.2f} (target <= 1.20)"
    )
    report(
        f"median cpu:  ospost {ours['cpu']:.1f} s, ffmpeg {cli['cpu']:.1f} s, "
        f"ratio {ours['cpu'] / cli['cpu']:.2f}"
    )
    report(
        f"peak RSS:    ospost {max(r['rss'] for r in results['ospost']):.0f} MB, "
        f"ffmpeg {max(r['rss'] for r in results['ffmpeg']):.0f} MB (target < 400 MB)"
    )


if __name__ == "__main__":
    sys.exit(main())
