"""Bulk upload: 50 camera photos of 12 MP sent in one go, as the bulk page
sends them, against a real `gunicorn -w 2`.

Run from the project root:  .venv/bin/python bench/bulk.py [--photos 50]

The photos (4000x3000 photo-like JPEGs with sensor grain, ~4-6 MB each, five
different ones repeated) are made in a subprocess. The server is logged in
through the real login; the page's own pacing is used: the files go
`BULK_PARALLEL` (2) at a time, one file per request to /bulk/upload with the
4:5 crop, and a 503 is retried after its Retry-After. Then "Add all to queue"
gives the drafts posting slots.

Reported:
- server time per photo: each request's wall time as the client saw it on
  loopback (median, p95, max), and the workers' CPU seconds per photo;
- peak RSS per worker (VmHWM, MiB) against the target of 150 MB;
- baselines from the same run: each worker's RSS before the batch (idle), and
  one 12 MP photo through the naive Pillow pipeline (full decode, crop,
  LANCZOS resize, JPEG) in a fresh process, peak RSS.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))  # the app, for creating the schema

from http_load import DEMO_FB_USER  # noqa: E402
from http_load import Gunicorn  # noqa: E402
from http_load import Simulator  # noqa: E402
from http_load import create_schema  # noqa: E402
from http_load import login  # noqa: E402
from http_load import server_env  # noqa: E402

from benchlib import cpu_seconds  # noqa: E402
from benchlib import free_port  # noqa: E402
from benchlib import photo_like  # noqa: E402
from benchlib import report as line  # noqa: E402
from benchlib import seeding_app  # noqa: E402

SIZE = (4000, 3000)  # 12 MP, a phone camera's default
DISTINCT = 5
PARALLEL = 2  # bulk.DEFAULTS["BULK_PARALLEL"]
TARGET_MIB = 150
SECRET = "bulk-upload-bench-secret-key-0123456789"


def generate(folder: Path, count: int) -> list[Path]:
    """Write `DISTINCT` photos and return `count` paths cycling through them."""
    folder.mkdir(parents=True)
    made = []
    for n in range(DISTINCT):
        path = folder / f"IMG_{n:04}.jpg"
        photo_like(SIZE, 30 + 5 * n).save(path, "JPEG", quality=92)
        made.append(path)
    return [made[n % DISTINCT] for n in range(count)]


def naive_peak(path: str) -> None:
    """Print the peak RSS (MiB) of one photo through the naive pipeline."""
    from PIL import Image

    data = Path(path).read_bytes()
    before = vm(0, "VmRSS")
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    crop = im.crop(((w - h * 4 // 5) // 2, 0, (w + h * 4 // 5) // 2, h))
    out = io.BytesIO()
    crop.resize((1440, 1800), Image.Resampling.LANCZOS).save(out, "JPEG", quality=90)
    peak = vm(0, "VmHWM")  # this process's own high-water mark since exec
    print(json.dumps({"peak": peak, "delta": peak - before}))  # noqa: T201


def vm(pid: int, name: str) -> float:
    """A /proc status figure in MiB (pid 0: this process)."""
    for row in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if row.startswith(name + ":"):
            return int(row.split()[1]) / 1024
    return 0.0


def send(base: str, http, csrf: str, path: Path) -> tuple[float, int, int]:
    """POST one photo as bulk.js does; returns (seconds, status, 503s first)."""
    busy = 0
    data = path.read_bytes()
    while True:
        start = time.perf_counter()
        resp = http.post(
            f"{base}/bulk/upload",
            data={"ratio": "4:5"},
            files={"photo": (path.name, data, "image/jpeg")},
            headers={"Accept": "application/json", "X-CSRFToken": csrf},
            timeout=120,
        )
        took = time.perf_counter() - start
        if resp.status_code != 503 or busy >= 10:
            return took, resp.status_code, busy, resp.json().get("id")
        busy += 1
        time.sleep(int(resp.headers.get("Retry-After", "1")))


def run(photos: int) -> None:
    import requests

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = generate(tmp / "in", photos)
        mb = statistics.mean(p.stat().st_size for p in files[:DISTINCT]) / 1e6
        naive = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--naive", str(files[0])],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        sim = Simulator(tmp / "simulator.log").start()
        port = free_port()
        db_url = f"sqlite:///{tmp / 'ospost.db'}"
        app_url = f"http://127.0.0.1:{port}"
        create_schema(seeding_app(sim.graph_url, app_url, db_url, tmp, SECRET))
        env = server_env(sim, port, db_url, tmp, [])
        env["SECRET_KEY"] = SECRET
        server = Gunicorn(env, port, 2, tmp / "server.log").start()
        try:
            _sid, http = login(server.url, sim.token(DEMO_FB_USER))
            page = http.get(f"{server.url}/bulk", timeout=10).text
            csrf = html.unescape(re.search(r'csrf-token" content="([^"]+)"', page)[1])
            for clock in ("09:00", "13:00", "18:00"):
                http.post(
                    f"{server.url}/account/slots",
                    data={"weekday": [str(d) for d in range(7)], "time": clock},
                    headers={"X-CSRFToken": csrf},
                    timeout=10,
                )
            pids = server.worker_pids()
            idle = {pid: vm(pid, "VmRSS") for pid in pids}
            cpu_before = sum(map(cpu_seconds, pids))

            def one(path: Path):
                session = requests.Session()
                session.cookies.update(http.cookies)
                return send(server.url, session, csrf, path)

            start = time.perf_counter()
            with ThreadPoolExecutor(PARALLEL) as pool:
                answers = list(pool.map(one, files))
            wall = time.perf_counter() - start
            cpu = sum(map(cpu_seconds, pids)) - cpu_before
            peaks = {pid: vm(pid, "VmHWM") for pid in pids}
            ids = [a[3] for a in answers if a[1] == 200]
            q_start = time.perf_counter()
            queued = http.post(
                f"{server.url}/bulk/queue",
                json={"ids": ids},
                headers={"Accept": "application/json", "X-CSRFToken": csrf},
                timeout=60,
            )
            q_took = time.perf_counter() - q_start
        finally:
            server.stop()
            sim.stop()
    times = sorted(a[0] for a in answers)
    statuses = [a[1] for a in answers]
    busy = sum(a[2] for a in answers)
    line(f"{photos} photos of {SIZE[0]}x{SIZE[1]} (12 MP JPEG, ~{mb:.1f} MB each),")
    line(f"{PARALLEL} at a time to /bulk/upload, crop 4:5, gunicorn -w 2:")
    line(f"  answered 200: {statuses.count(200)} of {photos}; 503s retried: {busy}")
    line(f"  whole batch: {wall:.1f} s ({photos / wall:.2f} photos/s)")
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    line(
        f"  server time per photo: median {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms; "
        f"CPU {cpu / photos * 1000:.0f} ms per photo"
    )
    line(f"{'worker':>8} {'idle MiB':>9} {'peak MiB':>9}")
    for pid in peaks:
        line(f"{pid:>8} {idle[pid]:>9.0f} {peaks[pid]:>9.0f}")
    line(
        f"baseline: one such photo through the naive Pillow pipeline, fresh "
        f"process: peak {naive['peak']:.0f} MiB (+{naive['delta']:.0f} for the photo)"
    )
    body = queued.json()
    line(
        f"Add all to queue: HTTP {queued.status_code} in {q_took * 1000:.0f} ms, "
        f"{len(body.get('moves', []))} posts given slots"
    )
    worst = max(peaks.values())
    verdict = "met in MiB" if worst < TARGET_MIB else "MISSED"
    line(
        f"target peak RSS < {TARGET_MIB} MB per worker: {worst:.0f} MiB "
        f"({worst * 1.048576:.0f} MB, of which {worst - min(idle.values()):.0f} MiB "
        f"above the idle worker) {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--naive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        naive_peak(args.naive)
    else:
        run(args.photos)


if __name__ == "__main__":
    main()
