"""Helpers shared by the benchmark scripts: output, ports, polling, percentiles,
process control, and running a test at full size with a figures file."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="
APP_ID = "1234567890123456"  # simulator.DEFAULT_APP_ID
APP_SECRET = "demo-app-secret"  # simulator.DEFAULT_APP_SECRET


def report(line: str = "") -> None:
    """Write one line of output (the benches' only way of printing)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def stop_process(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM a process we started (own session), then SIGKILL its group."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of this group only
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def run_test_at_scale(
    test_file: str, keyword: str, env: dict[str, str], report_var: str, postgres: bool
) -> tuple[int, list[dict]]:
    """Run one test with bigger counts; it appends a JSON line of figures per run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.jsonl"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        cmd += [test_file, "-k", keyword] + (["--postgres"] if postgres else [])
        code = subprocess.run(
            cmd, cwd=ROOT, env={**os.environ, **env, report_var: str(out)}
        ).returncode
        lines = out.read_text().splitlines() if out.exists() else []
    return code, [json.loads(line) for line in lines]


def seeding_app(graph_url: str, app_url: str, db_url: str, tmp: Path, secret: str):
    """An Ospost app in this process on the bench's database, scheduler off,
    configured like the bench's gunicorn server so tokens decrypt on both."""
    from app import create_app

    return create_app(
        {
            "TESTING": False,
            "DEMO": False,
            "SECRET_KEY": secret,
            "FB_APP_ID": APP_ID,
            "FB_APP_SECRET": APP_SECRET,
            "FB_ENDPOINT": graph_url,
            "APP_URL": app_url,
            "TOKEN_ENCRYPTION_KEYS": [TOKEN_KEY],
            "SQLALCHEMY_DATABASE_URI": db_url,
            "UPLOAD_FOLDER": str(tmp / "uploads"),
            "STAGING_FOLDER": str(tmp / "staging"),
            "SCHEDULER_ENABLED": False,
        }
    )
