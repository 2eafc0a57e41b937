"""The production front: real nginx, configured from deploy/nginx.conf, in front
of real gunicorn. Slow clients must not reach gunicorn's sync workers (the same
attack on bare gunicorn is shown blocking it), staged images come from disk,
and the limits and forwarded headers are the ones the app expects.

nginx is Debian's package (``.ci/run`` installs it). As with the browser tests,
a missing nginx is an error, never a skip: CI must run these tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import simulator
from support import image_bytes
from support import wait_for

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="
STAGED = "Abc_-" + "x" * 27 + ".jpg"  # 32 characters, the app's pattern
PLACEHOLDERS = {
    "OSPOST_SERVER_NAME",
    "OSPOST_HTTP_LISTEN",
    "OSPOST_HTTPS_LISTEN",
    "OSPOST_TLS_CERT",
    "OSPOST_TLS_KEY",
    "OSPOST_UPSTREAM",
    "OSPOST_STAGING_FOLDER",
}
# bench-style figures: set to a file path to get one JSON line per run.
FRONT_REPORT = os.environ.get("OSPOST_FRONT_REPORT")
log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def render_site(values: dict[str, str]) -> str:
    """deploy/nginx.conf with its ${OSPOST_...} placeholders filled in, as the
    envsubst command in its header does (nginx's own $variables untouched)."""
    text = TEMPLATE.read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used == PLACEHOLDERS, used ^ PLACEHOLDERS
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), so the test speaks real TLS."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Nginx:
    """nginx with the rendered site, in a folder of its own (pid, logs, temp).

    The wrapper holds only what Debian's /etc/nginx/nginx.conf holds around
    conf.d/*.conf: process settings, mime types and paths for this test.
    """

    def __init__(self, folder: Path, site: str):
        self.folder = folder
        (folder / "tmp").mkdir(parents=True)
        (folder / "ospost.conf").write_text(site)
        temp = "\n".join(
            f"    {kind}_temp_path {folder}/tmp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, workers would otherwise run as nobody, who may not read the
        # test's 0700 folders; Debian's nginx.conf says "user www-data".
        user = "user root;\n" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            f"    access_log {folder}/access.log;\n{temp}\n"
            f"    include {folder}/ospost.conf;\n}}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self, *ports: int) -> Nginx:
        if not os.path.exists(NGINX):
            pytest.fail(
                f"{NGINX} is missing: install Debian's nginx (apt-get install nginx)"
            )
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
             "-e", str(self.folder / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(lambda: self.proc.poll() is not None or all(map(listening, ports)))
        except AssertionError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise AssertionError(f"nginx did not start: {self.proc.stderr.read()!r}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.proc:
            self.proc.stderr.close()


class Gunicorn:
    """``gunicorn -w N 'app:create_app()'`` (sync workers) in production mode."""

    def __init__(self, app, folder: Path, workers: int = 2, timeout: int = 30, **env):
        self.port = free_port()
        self.access_log = folder / "gunicorn-access.log"
        self.error_log = folder / "gunicorn.log"
        cfg = app.config
        self.env = {
            **os.environ,
            "SECRET_KEY": "front-test-secret-key-0123456789abcdef",
            "FB_APP_ID": simulator.DEFAULT_APP_ID,
            "FB_APP_SECRET": simulator.DEFAULT_APP_SECRET,
            # No Graph calls happen here; an https endpoint keeps the CSP the
            # production one, which deploy/nginx.conf repeats.
            "FB_ENDPOINT": "https://graph.facebook.com/v21.0/",
            "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
            "TOKEN_ENCRYPTION_KEYS": KEY,
            "OSPOST_UPLOAD_FOLDER": cfg["UPLOAD_FOLDER"],
            "OSPOST_STAGING_FOLDER": cfg["STAGING_FOLDER"],
            "OSPOST_SCHEDULER_ENABLED": "false",
            **env,
        }
        self.cmd = [
            sys.executable, "-m", "gunicorn", "-w", str(workers),
            "-b", f"127.0.0.1:{self.port}", "--timeout", str(timeout),
            "--graceful-timeout", "5", "--log-level", "warning",
            "--error-logfile", str(self.error_log),
            "--access-logfile", str(self.access_log),
            "--access-logformat",
            "%(r)s|%({x-forwarded-for}i)s|%({x-forwarded-proto}i)s|%({x-forwarded-host}i)s",
            "app:create_app()",
        ]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, start_new_session=True
        )
        try:
            wait_for(self._answers, timeout=30, describe=self.log)
        except AssertionError:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {self.log()}")
        try:
            return requests.get(self.url("/healthz"), timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def workers(self) -> set[int]:
        pid = self.proc.pid
        return {
            int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        }

    def log(self) -> str:
        return self.error_log.read_text() if self.error_log.exists() else ""

    def requests_seen(self) -> list[list[str]]:
        text = self.access_log.read_text() if self.access_log.exists() else ""
        return [line.split("|") for line in text.splitlines()]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class Front:
    """nginx (from deploy/nginx.conf) → gunicorn → the app, over real TLS."""

    def __init__(self, app, folder: Path):
        self.http_port, self.https_port = free_port(), free_port()
        self.cert, key = self_signed(folder)
        self.staging = Path(app.config["STAGING_FOLDER"])
        self.staging.mkdir(parents=True, exist_ok=True)
        self.gunicorn = Gunicorn(
            app, folder, APP_URL=self.url(""), OSPOST_TRUSTED_PROXY_COUNT="1"
        )
        site = render_site(
            {
                "OSPOST_SERVER_NAME": "127.0.0.1",
                "OSPOST_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
                "OSPOST_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
                "OSPOST_TLS_CERT": str(self.cert),
                "OSPOST_TLS_KEY": str(key),
                "OSPOST_UPSTREAM": f"127.0.0.1:{self.gunicorn.port}",
                "OSPOST_STAGING_FOLDER": str(self.staging),
            }
        )
        self.nginx = Nginx(folder / "nginx", site)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.https_port}{path}"

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return requests.get(self.url(path), verify=str(self.cert), **kwargs)

    def tls_socket(self, timeout: float = 5) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=str(self.cert))
        raw = socket.create_connection(("127.0.0.1", self.https_port), timeout=timeout)
        return context.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.fixture
def front(make_app, tmp_path):
    app = make_app()
    front = Front(app, tmp_path)
    try:
        front.gunicorn.start()
        front.nginx.start(front.http_port, front.https_port)
        yield front
    finally:
        front.nginx.stop()
        front.gunicorn.stop()


# -- the template ---------------------------------------------------------------


def test_nginx_template_matches_the_app(make_app):
    """One body-size limit for both, and only the documented placeholders."""
    text = TEMPLATE.read_text()
    render_site({name: "x" for name in PLACEHOLDERS})  # every placeholder known
    size, video = re.findall(r"^\s*client_max_body_size (\d+)m;", text, re.M)
    config = make_app().config
    assert int(size) * 1024 * 1024 == config["MAX_CONTENT_LENGTH"]
    # Reel and Story uploads (ospost/reel_views.py) have their own, larger one.
    assert int(video) == config["VIDEO_MAX_UPLOAD_MB"]
    assert re.search(r"^\s*proxy_request_buffering on;", text, re.M)
    # The staged-name pattern is the app's.
    from ospost.storage import STAGED_NAME

    assert f"(?<ospost_staged>{STAGED_NAME.pattern})$" in text


# -- nginx in front of gunicorn -------------------------------------------------


def test_nginx_serves_staged_copies_itself_with_the_apps_headers(front):
    jpeg = image_bytes(300, 300)
    (front.staging / STAGED).write_bytes(jpeg)
    (front.staging / ".gitkeep").write_bytes(b"")
    (front.staging / (STAGED[:-4] + ".part")).write_bytes(jpeg)
    by_nginx = front.get(f"/static/tmp/{STAGED}")
    assert by_nginx.status_code == 200 and by_nginx.content == jpeg
    by_app = requests.get(front.gunicorn.url(f"/static/tmp/{STAGED}"), timeout=5)
    assert by_app.status_code == 200
    for name in (
        "Content-Type",
        "Cache-Control",
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Strict-Transport-Security",
    ):
        assert by_nginx.headers[name] == by_app.headers[name], name
    # Videos too, with byte ranges, as the app serves them (test_video_staging.py).
    video = STAGED[:-4] + ".mp4"
    (front.staging / video).write_bytes(b"\0\0\0\x18ftypisom" + bytes(range(200)))
    ranged = front.get(f"/static/tmp/{video}", headers={"Range": "bytes=4-11"})
    assert ranged.status_code == 206 and ranged.content == b"ftypisom"
    assert ranged.headers["Content-Type"] == "video/mp4"
    assert ranged.headers["Content-Range"] == "bytes 4-11/212"
    head = requests.head(
        front.url(f"/static/tmp/{STAGED}"), verify=str(front.cert), timeout=5
    )
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(jpeg))
    before = len(front.gunicorn.requests_seen())
    for probe in (
        ".gitkeep",
        STAGED[:-4] + ".part",
        "x.jpg",
        STAGED[1:],
        STAGED[:-4] + ".png",
        "B" * 32 + ".jpg",  # the right pattern, but no such file
        "./.gitkeep",
        f"%2e/{STAGED[:-4]}.part",
    ):
        assert front.get(f"/static/tmp/{probe}").status_code == 404, probe
    for path in ("/static/./tmp/.gitkeep", "/static/x/../tmp/.gitkeep"):
        assert front.get(path).status_code == 404, path
    post = requests.post(
        front.url(f"/static/tmp/{STAGED}"), verify=str(front.cert), timeout=5
    )
    assert post.status_code == 405
    # None of these reached the app: nginx answered them all from disk.
    assert len(front.gunicorn.requests_seen()) == before
    # Paths that climb out of /static/tmp/ go to the app, which finds nothing.
    for probe in ("../../app.py", "%2e%2e/%2e%2e/app.py", "..%2f..%2fapp.py"):
        assert front.get(f"/static/tmp/{probe}").status_code == 404, probe
    front.gunicorn.stop()
    assert front.get(f"/static/tmp/{STAGED}").content == jpeg
    down = front.get("/login")
    assert down.status_code == 503 and "briefly unavailable" in down.text


def test_nginx_front_limits_redirects_and_forwards(front):
    page = front.get("/login")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert page.headers["Server"] == "nginx"  # no version (server_tokens off)
    bare = requests.get(front.gunicorn.url("/healthz"), timeout=5)
    assert bare.headers["Server"] == "gunicorn"  # gunicorn sends no version either
    # The app saw the client's address and scheme as nginx wrote them.
    (seen,) = [
        r for r in front.gunicorn.requests_seen() if r[0].startswith("GET /login")
    ]
    forwarded_for, proto, host = seen[1:]
    assert (forwarded_for, proto, host) == ("127.0.0.1", "https", "127.0.0.1")
    # Plain HTTP moves to HTTPS.
    plain = requests.get(
        f"http://127.0.0.1:{front.http_port}/login?next=/",
        allow_redirects=False,
        timeout=5,
    )
    assert plain.status_code == 301
    assert plain.headers["Location"] == "https://127.0.0.1/login?next=/"
    # Over the app's 30 MiB (the video forms: 1000 MiB): refused by nginx from
    # the header, in the app's words.
    for path, mb in (("/bulk/upload", 30), ("/post/add", 1000)):
        with front.tls_socket() as sock:
            sock.sendall(
                b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Accept: application/json\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\n"
                b"Content-Length: %d\r\n\r\n" % (path.encode(), (mb + 1) * 1024 * 1024)
            )
            answer = sock.recv(65536).decode()
        head, _, body = answer.partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 413")
        assert json.loads(body) == {
            "ok": False,
            "error": f"File is too large: the limit is {mb} MB.",
        }
        assert not any(path in line[0] for line in front.gunicorn.requests_seen())


# -- slow clients -----------------------------------------------------------------


class SlowClients:
    """Connections that hold a server's attention: some send nothing at all,
    some trickle a request header a byte a second, some trickle a body."""

    def __init__(self):
        self.sockets: list[socket.socket] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.dropped = 0

    def idle(self, connect) -> None:
        self.sockets.append(connect())

    def trickle(self, connect, start: bytes) -> None:
        sock = connect()
        self.sockets.append(sock)
        sock.sendall(start)
        thread = threading.Thread(target=self._drip, args=(sock,), daemon=True)
        thread.start()
        self.threads.append(thread)

    def _drip(self, sock: socket.socket) -> None:
        while not self.stop.wait(1.0):
            try:
                sock.sendall(b"a")
            except OSError:
                self.dropped += 1
                return

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


HEADER_START = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
# A form body: the app's CSRF check reads it before anything else happens.
BODY_START = (
    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 100000\r\n\r\ncsrf_token="
)


def report(figures: dict) -> None:
    log.info("slow clients: %s", figures)
    if FRONT_REPORT:
        with open(FRONT_REPORT, "a") as out:
            out.write(json.dumps(figures) + "\n")


@pytest.mark.slow
def test_slow_clients_do_not_block_others_behind_nginx(front):
    workers = front.gunicorn.workers()
    attack = SlowClients()
    try:
        for port in (front.https_port,) * 4 + (front.http_port,):
            # Not even a TLS handshake.
            attack.idle(partial(socket.create_connection, ("127.0.0.1", port)))
        attack.idle(front.tls_socket)  # TLS, then silence
        for _ in range(3):
            attack.trickle(front.tls_socket, HEADER_START)
        for _ in range(3):
            attack.trickle(front.tls_socket, BODY_START)
        time.sleep(1)  # both gunicorn workers would now be stuck
        latencies = []
        # Well within nginx's 10 s client_header_timeout, so the attack
        # lasts the whole time.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for path in ("/login", "/healthz"):
                started = time.monotonic()
                resp = front.get(path, timeout=2)
                latencies.append(time.monotonic() - started)
                assert resp.status_code == 200, (path, resp.status_code)
            time.sleep(0.1)
        assert attack.dropped == 0  # the attack was still on throughout
    finally:
        attack.close()
    assert max(latencies) < 2.0
    # gunicorn never saw the slow clients: no worker timed out or was replaced.
    assert front.gunicorn.workers() == workers
    assert "WORKER TIMEOUT" not in front.gunicorn.log()
    report(
        {
            "through": "nginx",
            "slow_connections": len(attack.sockets),
            "requests": len(latencies),
            "median_ms": round(statistics.median(latencies) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
        }
    )


@pytest.mark.slow
def test_the_same_attack_blocks_bare_gunicorn(make_app, tmp_path):
    """Why the front exists: two silent connections take both sync workers,
    and a normal request waits until gunicorn kills them (--timeout 3 here)."""
    server = Gunicorn(make_app(), tmp_path, workers=2, timeout=3).start()
    attack = SlowClients()
    try:
        workers = server.workers()
        for _ in range(2):
            attack.idle(partial(socket.create_connection, ("127.0.0.1", server.port)))
        time.sleep(0.5)
        started = time.monotonic()
        resp = requests.get(server.url("/healthz"), timeout=15)
        waited = time.monotonic() - started
        survivors = workers & server.workers()
    finally:
        attack.close()
        server.stop()
    assert resp.status_code == 200
    assert waited > 2.5  # blocked until the workers were killed
    # Both workers were killed and replaced (their schedulers with them).
    assert "WORKER TIMEOUT" in server.log() and not survivors
    report(
        {"through": "bare gunicorn -w 2 --timeout 3", "waited_ms": round(waited * 1000)}
    )
