"""Helpers shared by the benchmark scripts: output, ports, polling, percentiles,
process control, the databases to compare, and running a test at full size
with a figures file."""

from __future__ import annotations

import io
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

import requests
from PIL import Image
from PIL import ImageChops

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
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


# -- machine ------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one live process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


# -- databases ------------------------------------------------------------------


class Databases:
    """The databases a bench compares, side by side: SQLite in the bench's temp
    dir and PostgreSQL (``--database-url``, or a throwaway server like the test
    suite's, started here and removed at the end).

    ``cpu()`` counts the CPU a throwaway PostgreSQL server used (its backends
    are part of the system under test, not "other processes"); it is None for
    SQLite, whose work happens inside the app's own processes, and for a server
    given with ``--database-url``.
    """

    NAMES = ("sqlite", "postgresql")

    def __init__(
        self, names: list[str], url: str | None, tmp: Path, statements: bool = False
    ) -> None:
        self.names, self.url, self.tmp = names, url, tmp
        self.server = None
        # Count statements with pg_stat_statements (a throwaway server only).
        self.statements = statements

    def __enter__(self) -> Databases:
        if "postgresql" in self.names and not self.url:
            sys.path.insert(0, str(ROOT / "tests"))
            from pgserver import PostgresServer

            preload = "-c shared_preload_libraries=pg_stat_statements"
            self.server = PostgresServer(preload if self.statements else "")
            self.url = self.server.start()
            if self.statements:
                self._sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return self

    def _sql(self, query: str) -> list:
        from sqlalchemy import create_engine
        from sqlalchemy import text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(query))
                return result.all() if result.returns_rows else []
        finally:
            engine.dispose()

    def reset_statements(self, name: str) -> None:
        """Start counting statements now (with ``statements``, on PostgreSQL)."""
        if self.statements and name == "postgresql" and self.server is not None:
            self._sql("SELECT pg_stat_statements_reset()")

    def statement_counts(self, name: str) -> dict | None:
        """Statements run since ``reset_statements``: the total, how many were
        BEGIN, COMMIT or ROLLBACK, and the most frequent (None if not counted)."""
        if not self.statements or name != "postgresql" or self.server is None:
            return None
        rows = self._sql(
            "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
            "FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' "
            "ORDER BY calls DESC"
        )
        control = ("BEGIN", "COMMIT", "ROLLBACK")
        return {
            "total": sum(calls for calls, _ in rows),
            "begin_commit_rollback": sum(
                calls for calls, q in rows if q.upper().startswith(control)
            ),
            "top": [[calls, q] for calls, q in rows[:12]],
        }

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.destroy()

    def url_of(self, name: str) -> str:
        if name == "sqlite":
            return f"sqlite:///{self.tmp / 'ospost.db'}"
        return self.url

    def given(self, name: str) -> bool:
        """True for a database the user gave: only the bench's rows may go."""
        return name == "postgresql" and self.server is None

    def cpu(self, name: str) -> float | None:
        """User + system CPU seconds of the throwaway server so far, including
        backends that already exited (the postmaster's reaped children)."""
        if name != "postgresql" or self.server is None:
            return None
        pid = int((self.server.data / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = sum(int(f) for f in fields[11:15]) / CLK_TCK  # utime..cstime
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return own + sum(cpu_seconds(int(child)) for child in children)


def database_names(text: str) -> list[str]:
    """``--databases sqlite,postgresql`` as a list, checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in Databases.NAMES]
    if unknown or not names:
        raise SystemExit(f"--databases takes sqlite and/or postgresql, not {text!r}")
    return names


def add_database_arguments(parser) -> None:
    """``--databases`` and ``--database-url``, the same in every bench."""
    parser.add_argument(
        "--databases",
        type=database_names,
        default=list(Databases.NAMES),
        help="which to run, side by side (default: sqlite,postgresql)",
    )
    parser.add_argument(
        "--database-url",
        help="the PostgreSQL to use, e.g. postgresql+psycopg://user:pw@host/db "
        "(empty, or at least without users; the bench deletes its rows "
        "afterwards); default: a throwaway server started for the run",
    )


# -- test images ----------------------------------------------------------------


def photo_like(size: tuple[int, int], grain: int) -> Image.Image:
    """Make an RGB image with smooth colour regions plus sensor-like grain."""
    width, height = size
    low = Image.effect_noise((width // 16, height // 16), 80).resize(
        size, Image.Resampling.BICUBIC
    )
    base = Image.merge(
        "RGB",
        (
            low,
            low.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            low.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        ),
    )
    noise = Image.effect_noise(size, grain)
    fine = Image.merge(
        "RGB",
        (
            noise,
            noise.transpose(Image.Transpose.ROTATE_180),
            noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ),
    )
    return ImageChops.add(base, fine, scale=1, offset=-128)


def processed_upload() -> tuple[bytes, bytes]:
    """(JPEG, thumbnail) of a 1080x1350 photo run through Ospost's own pipeline."""
    from ospost import images

    buffer = io.BytesIO()
    photo_like((1080, 1350), grain=6).save(buffer, "JPEG", quality=92)
    processed = images.process_upload(io.BytesIO(buffer.getvalue()))
    return processed.jpeg, processed.thumbnail


# -- processes ------------------------------------------------------------------


class SimulatorProcess:
    """``python -m simulator`` as a separate process, driven through /_sim."""

    API_VERSION = "v21.0"

    def __init__(self, log_path: Path, *args: str, timeout: float = 10.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.graph_url = f"{self.url}/{self.API_VERSION}/"
        self.log_path = log_path
        self.args = args
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.http = requests.Session()

    def start(self):
        cmd = [PYTHON, "-m", "simulator", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), *self.args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_until(self._answers, 20, "the simulator to answer")
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"simulator exited; see {self.log_path}")
        try:
            return self.http.get(f"{self.url}/_sim/settings", timeout=1).ok
        except requests.RequestException:
            return False

    def get(self, path: str):
        resp = self.http.get(self.url + path, timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    def post(self, path: str, payload: dict):
        resp = self.http.post(self.url + path, json=payload, timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()

    def stop(self) -> None:
        stop_process(self.proc, grace=5)
        self.http.close()


class GunicornProcess:
    """``python -m gunicorn -w W -b 127.0.0.1:P 'app:create_app()'`` in its own
    process group, logging to ``log_path``."""

    def __init__(
        self,
        env: dict,
        port: int,
        workers: int,
        log_path: Path,
        *options: str,
        graceful_timeout: int = 10,
    ):
        self.env, self.port, self.workers, self.log_path = env, port, workers, log_path
        self.options = options
        self.graceful_timeout = graceful_timeout
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def launch(self) -> None:
        cmd = [PYTHON, "-m", "gunicorn", "-w", str(self.workers)]
        cmd += ["-b", f"127.0.0.1:{self.port}"]
        cmd += ["--graceful-timeout", str(self.graceful_timeout), *self.options]
        cmd += ["--log-level", "warning", "app:create_app()"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def worker_pids(self) -> list[int]:
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(child) for child in children.split()]

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
