"""Time and measure images.process_upload against a naive Pillow pipeline.

Run from the project root:  .venv/bin/python bench/upload.py [--runs N]
(--burst-only runs just the last part, the parallel worst-case uploads.)

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

Parallel worst-case uploads (issue 16): 8 uploads sent at once to a real
server, `flask run` (threaded, like `make run`) and then `gunicorn -w 2`, each
logged in through the real login.  The files are the worst each format allows:
the 47 KB 7000x7000 palette PNG (refused: over 25 MP), and at the caps a
palette PNG with transparency, an RGBA PNG, a 16-bit PNG, a progressive 4:4:4
JPEG, a HEIC (iPhone 24 MP), a lossless WebP (10 MP) and a 12 MP camera JPEG.
A 503 is retried after its Retry-After, as a person would.  Reported: each
worker's peak RSS (VmHWM, MiB; target < 400), and as a baseline the peak RSS
of one process running the same 8 files through the naive pipeline in 8
threads.
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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

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
    return importlib.import_module("ospost.images")


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
    parser.add_argument("--burst-only", action="store_true")
    parser.add_argument("--generate", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--generate-worst", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--timing", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, metavar="X", help=argparse.SUPPRESS)
    parser.add_argument("--naive-burst", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        make_inputs(Path(args.generate))
    elif args.generate_worst:
        make_worst_cases(Path(args.generate_worst))
    elif args.timing:
        timing_worker(args.timing, args.runs)
    elif args.memory:
        memory_worker(args.memory[0], args.memory[1], runs=3)
    elif args.naive_burst:
        naive_burst_worker(Path(args.naive_burst))
    else:
        if not args.burst_only:
            report(args.runs)
        burst_report()


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


# -- parallel worst-case uploads against real servers --------------------------

BURST_TARGET_MIB = 400
BURST_SECRET = "upload-burst-bench"
TZ = "Europe/Paris"
# 4:5 at just under 25 megapixels, the cap.
CAP_PORTRAIT = (4472, 5590)


def make_worst_cases(directory: Path) -> None:
    """Write the 8 worst-case uploads: tiny files that decode into big images."""
    import pillow_heif

    from benchlib import photo_like

    pillow_heif.register_heif_opener()
    directory.mkdir(parents=True)
    grey = (200, 80, 40)
    Image.new("P", (7000, 7000), 3).save(directory / "1-bomb-palette-7000.png")
    Image.new("P", CAP_PORTRAIT, 3).save(
        directory / "2-palette-transparent-25mp.png", transparency=3
    )
    Image.new("RGBA", CAP_PORTRAIT, (*grey, 128)).save(directory / "3-rgba-25mp.png")
    Image.new("I;16", CAP_PORTRAIT, 30000).save(directory / "4-gray16-25mp.png")
    Image.new("RGB", CAP_PORTRAIT[::-1], grey).save(
        directory / "5-progressive444-25mp.jpg",
        progressive=True,
        subsampling="4:4:4",
        quality=95,
    )
    Image.new("RGB", (5712, 4284), grey).save(directory / "6-iphone-24mp.heic")
    Image.new("RGB", (2828, 3535), grey).save(
        directory / "7-lossless-10mp.webp", lossless=True
    )
    photo_like((4000, 3000), grain=6).save(directory / "8-camera-12mp.jpg", quality=92)


def naive_burst_worker(directory: Path) -> None:
    """Print (as JSON) the peak RSS of one process running the naive pipeline
    on every worst-case file at once, one thread each."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    files = [path.read_bytes() for path in sorted(directory.iterdir())]
    before = proc_status(os.getpid())["VmRSS"]

    def run(data: bytes) -> None:
        try:
            naive_pipeline(data)
        except Exception:
            pass  # the naive pipeline refusing a file is fine for the baseline

    with ThreadPoolExecutor(len(files)) as pool:
        list(pool.map(run, files))
    peak = proc_status(os.getpid())["VmHWM"]
    print(json.dumps({"peak_mb": peak, "delta_mb": peak - before}))  # noqa: T201


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a live process, in MiB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) / 1024
    return figures


class DevServer:
    """``flask run`` as `make run` starts it: werkzeug, a thread per request."""

    def __init__(self, env: dict, port: int, log_path: Path) -> None:
        self.env, self.port, self.log_path = env, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "DevServer":
        from benchlib import wait_until

        cmd = [sys.executable, "-m", "flask", "--app", "app", "run"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_until(self._ready, 60, "flask run to answer")
        return self

    def _ready(self) -> bool:
        import requests

        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"flask run exited; see {self.log_path}")
        try:
            return requests.get(f"{self.url}/static/css/styles.css", timeout=1).ok
        except requests.RequestException:
            return False

    def worker_pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        from benchlib import stop_process

        stop_process(self.proc)


def upload_until_answered(url: str, http, csrf: str, path: Path) -> tuple[int, int]:
    """POST one file as the add page does, retrying 503s after their Retry-After.

    Returns the final status and how many 503s came first.
    """
    when = (datetime.now(UTC) + timedelta(hours=2)).astimezone(ZoneInfo(TZ))
    busy = 0
    while True:
        resp = http.post(
            f"{url}/post/add",
            data={"caption": path.stem, "date": when.strftime("%Y-%m-%dT%H:%M")},
            files={"image": (path.name, path.read_bytes())},
            headers={"Accept": "application/json", "X-CSRFToken": csrf},
            timeout=120,
        )
        if resp.status_code != 503 or busy >= 10:
            return resp.status_code, busy
        busy += 1
        time.sleep(int(resp.headers.get("Retry-After", "1")))


def run_burst(kind: str, sim, files: list[Path], tmp: Path) -> dict:
    """Start one server, log in, send every file at once; measure its workers."""
    import html
    import re

    from http_load import DEMO_FB_USER
    from http_load import Gunicorn
    from http_load import create_schema
    from http_load import login
    from http_load import server_env

    from benchlib import free_port
    from benchlib import seeding_app

    home = tmp / kind.split()[0]
    home.mkdir()
    port = free_port()
    db_url = f"sqlite:///{home / 'ospost.db'}"
    create_schema(
        seeding_app(sim.graph_url, f"http://127.0.0.1:{port}", db_url, home, "x")
    )
    env = server_env(sim, port, db_url, home, ["SCHEDULER_ENABLED=true"])
    env["SECRET_KEY"] = BURST_SECRET
    if kind.startswith("gunicorn"):
        server = Gunicorn(env, port, 2, home / "server.log").start()
    else:
        server = DevServer(env, port, home / "server.log").start()
    try:
        _sid, http = login(server.url, sim.token(DEMO_FB_USER))
        page = http.get(f"{server.url}/post/add", timeout=10).text
        csrf = html.unescape(re.search(r'csrf-token" content="([^"]+)"', page)[1])
        idle = {pid: proc_status(pid)["VmRSS"] for pid in server.worker_pids()}

        def send(path: Path) -> tuple[int, int]:
            # One requests.Session per thread, each with the login cookie.
            return upload_until_answered(server.url, clone_session(http), csrf, path)

        with ThreadPoolExecutor(len(files)) as pool:
            answers = list(pool.map(send, files))
        peaks = {pid: proc_status(pid)["VmHWM"] for pid in server.worker_pids()}
    finally:
        server.stop()
    return {"kind": kind, "idle": idle, "peaks": peaks, "answers": answers}


def clone_session(http):
    """A new requests.Session carrying the same login cookie."""
    import requests

    copy = requests.Session()
    copy.cookies.update(http.cookies)
    return copy


def burst_report() -> None:
    """Run the parallel worst-case uploads on both servers and print the figures."""
    from http_load import Simulator

    from benchlib import report as line

    sys.path.insert(0, str(ROOT))  # the app, for creating the schema
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # Generated in a subprocess so that this process stays small (see above).
        subprocess.run(
            [sys.executable, __file__, "--generate-worst", str(tmp / "in")], check=True
        )
        files = sorted((tmp / "in").iterdir())
        sizes = {path.name: path.stat().st_size for path in files}
        naive = in_fresh_process("--naive-burst", str(tmp / "in"))
        sim = Simulator(tmp / "simulator.log").start()
        try:
            runs = [
                run_burst(kind, sim, files, tmp)
                for kind in ("flask run (threaded)", "gunicorn -w 2")
            ]
        finally:
            sim.stop()
    line()
    line(f"{len(files)} parallel worst-case uploads (503s retried after Retry-After):")
    for name, size in sizes.items():
        line(f"  {name:<32} {size / 1024:>8.1f} KB")
    line()
    line(f"{'server':<22} {'worker':>8} {'idle MiB':>9} {'peak MiB':>9}")
    worst = 0.0
    for run in runs:
        statuses = ", ".join(
            f"{path.stem.split('-', 1)[1]}={status}"
            + (f" (after 503 x{busy})" if busy else "")
            for path, (status, busy) in zip(files, run["answers"], strict=True)
        )
        for i, (pid, peak) in enumerate(run["peaks"].items()):
            worst = max(worst, peak)
            label = run["kind"] if i == 0 else ""
            line(f"{label:<22} {pid:>8} {run['idle'][pid]:>9.0f} {peak:>9.0f}")
        line(f"  answers: {statuses}")
    line(
        f"baseline: the same files through the naive pipeline, one process, "
        f"{len(files)} threads: peak {naive['peak_mb']:.0f} MiB "
        f"(+{naive['delta_mb']:.0f})"
    )
    verdict = "met" if worst < BURST_TARGET_MIB else "MISSED"
    line(f"target peak RSS < {BURST_TARGET_MIB} MiB per worker: {worst:.0f} {verdict}")


if __name__ == "__main__":
    main()
