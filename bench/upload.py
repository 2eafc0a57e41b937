"""Time and measure images.process_upload against a naive Pillow pipeline.

Run from the project root:  .venv/bin/python bench/upload.py [--runs N]

Two inputs are generated under a temporary directory: a 6000x4000 photo-like
JPEG of about 8 MB (quality 92, with fine grain so it compresses like a real
camera file) and a 4000x3000 PNG.

Timing: one fresh subprocess per case runs both pipelines, interleaved, and
reports the median wall time and CPU time of --runs runs each (after one
warm-up run each).  On a busy machine trust the CPU-time speed-up: wall time
then mostly measures the other processes.

Memory: one fresh subprocess per (case, pipeline) pair, so peak-RSS figures
can't leak between them.  The input bytes are read into memory and everything
is imported *before* the baseline is taken; "peak" is ru_maxrss (absolute, MiB)
after three runs and "delta" is peak minus that baseline, i.e. the memory the
pipeline itself needed.

The naive pipeline is what one writes without thinking about it: Image.open,
full decode and convert("RGB"), LANCZOS resize to 1440 wide, save as JPEG 90.
Ours does more work (metadata stripping, colour handling, a thumbnail) and is
still expected to be >= 3x faster on the JPEG thanks to libjpeg's DCT scaling.
"""

import argparse
import importlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
JPEG_SIZE = (6000, 4000)
PNG_SIZE = (4000, 3000)
CASES = {
    f"JPEG {JPEG_SIZE[0]}x{JPEG_SIZE[1]}": "camera.jpg",
    f"PNG {PNG_SIZE[0]}x{PNG_SIZE[1]}": "export.png",
}


def make_inputs(directory: Path) -> None:
    """Write the benchmark inputs (see CASES) into `directory`."""
    # Imported here: the measuring subprocesses must not load benchlib's
    # dependencies, or they would count in the peak RSS.
    from benchlib import photo_like

    jpeg, png = CASES.values()
    photo_like(JPEG_SIZE, grain=6).save(directory / jpeg, "JPEG", quality=92)
    photo_like(PNG_SIZE, grain=3).save(directory / png, "PNG")


def naive_pipeline(data: bytes) -> bytes:
    """The straightforward Pillow version: full decode, resize, save."""
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
    width, height = rgb.size
    out = rgb.resize((1440, round(1440 * height / width)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def load_images_module() -> types.ModuleType:
    """Import the project's images module from the repository root."""
    sys.path.insert(0, str(ROOT))
    return importlib.import_module("images")


def memory_worker(pipeline: str, path: str, runs: int) -> None:
    """Print (as JSON) the RSS one pipeline needs, measured in this fresh process."""
    images = load_images_module()
    data = Path(path).read_bytes()
    if pipeline == "ours":

        def run(data: bytes) -> bytes:
            return images.process_upload(io.BytesIO(data)).jpeg
    else:
        run = naive_pipeline
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(runs):
        run(data)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {"peak_mb": peak_kib / 1024, "delta_mb": (peak_kib - baseline_kib) / 1024}
    print(json.dumps(figures))  # noqa: T201


def timing_worker(path: str, runs: int) -> None:
    """Print (as JSON) median wall and CPU times of both pipelines, interleaved.

    Interleaving keeps the ratio fair when something else on the machine speeds
    up or slows down during the benchmark; CPU time (both pipelines are single
    threaded) stays meaningful even when the machine is busy.
    """
    images = load_images_module()
    data = Path(path).read_bytes()
    pipelines = {
        "ours": lambda: images.process_upload(io.BytesIO(data)),
        "naive": lambda: naive_pipeline(data),
    }
    wall: dict[str, list[float]] = {name: [] for name in pipelines}
    cpu: dict[str, list[float]] = {name: [] for name in pipelines}
    for run in pipelines.values():
        run()  # warm-up: plugin registration, first allocations
    for _ in range(runs):
        for name, run in pipelines.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(ts) * 1000 for name, ts in wall.items()}
    medians |= {f"{name}_cpu": statistics.median(ts) * 1000 for name, ts in cpu.items()}
    print(json.dumps(medians))  # noqa: T201


def in_fresh_process(*args: str) -> dict[str, float]:
    """Run this script with `args` in a new interpreter and return its JSON."""
    completed = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(completed.stdout)


def main() -> None:
    """Generate the inputs, measure both pipelines on each and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--generate", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--timing", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, metavar="X", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        make_inputs(Path(args.generate))
    elif args.timing:
        timing_worker(args.timing, args.runs)
    elif args.memory:
        memory_worker(args.memory[0], args.memory[1], runs=3)
    else:
        report(args.runs)


def report(runs: int) -> None:
    """Run every measurement in its own subprocess and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        # Linux carries a process's RSS high-water mark into the children it
        # spawns, so this process must stay small: generate in a subprocess.
        subprocess.run([sys.executable, __file__, "--generate", tmp], check=True)
        rows = []
        for name, file in CASES.items():
            path = str(Path(tmp) / file)
            rows.append(
                (
                    name,
                    Path(path).stat().st_size,
                    in_fresh_process("--timing", path, "--runs", str(runs)),
                    in_fresh_process("--memory", "ours", path),
                    in_fresh_process("--memory", "naive", path),
                )
            )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"median of {runs} interleaved runs per pipeline; load average {load}",
        "RSS: ru_maxrss in MiB, fresh process per cell, shown as delta / peak "
        "(delta = peak minus baseline after imports and reading the input)",
        "",
        f"{'':<25} {'--- wall time (median) ---':>28} {'--- CPU time ---':>26}",
        f"{'case':<16} {'input MB':>8} {'ours ms':>8} {'naive ms':>9} "
        f"{'speed-up':>9} {'ours ms':>8} {'naive ms':>9} {'speed-up':>7} "
        f"{'ours RSS MiB':>13} {'naive RSS MiB':>14}",
    ]
    for name, size, times, ours, naive in rows:
        lines.append(
            f"{name:<16} {size / 1e6:>8.1f} {times['ours']:>8.0f} "
            f"{times['naive']:>9.0f} {times['naive'] / times['ours']:>8.1f}x "
            f"{times['ours_cpu']:>8.0f} {times['naive_cpu']:>9.0f} "
            f"{times['naive_cpu'] / times['ours_cpu']:>7.1f}x "
            f"{rss(ours):>13} {rss(naive):>14}"
        )
    jpeg_times = rows[0][2]
    speed_up = jpeg_times["naive_cpu"] / jpeg_times["ours_cpu"]
    worst_peak = max(row[3]["peak_mb"] for row in rows)
    lines += [
        "",
        f"target JPEG speed-up >= 3x (CPU time): {speed_up:.1f}x "
        f"{'met' if speed_up >= 3 else 'MISSED'}",
        f"target our peak RSS < 120 MB: {worst_peak:.0f} "
        f"{'met' if worst_peak < 120 else 'MISSED'}",
    ]
    print("\n".join(lines))  # noqa: T201


def rss(figures: dict[str, float]) -> str:
    """Format one memory measurement as "delta / peak"."""
    return f"{figures['delta_mb']:.0f} / {figures['peak_mb']:.0f}"


if __name__ == "__main__":
    main()
