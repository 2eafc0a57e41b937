"""Attacks that must do no harm, beyond those in test_auth and test_posts
(spoofed ig_id, other-app tokens, CSRF, fixation, open redirects, forged
signatures, IDOR on every post route, traversal, renamed PHP/HTML files)."""

from __future__ import annotations

import http.client
import io
import os
import struct
import threading
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from werkzeug.datastructures import FileStorage
from werkzeug.serving import make_server
from werkzeug.test import encode_multipart

from app import create_app
from models import Post
from models import User
from models import db
from support import create_post
from support import image_bytes
from support import local_input
from support import soon

ROOT = Path(__file__).resolve().parent.parent
JSON = {"Accept": "application/json"}


def post_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Post))


@pytest.mark.parametrize("path", ["/login", "/privacy", "/nope", "/vendor/x.js"])
def test_security_headers_on_every_response(client, path):
    resp = client.get(path)
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self' https://connect.facebook.net" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_cookies_are_secure_behind_https(make_app, auth):
    app = make_app(APP_URL="https://ospost.example")
    client = app.test_client()
    type(auth)(client, auth.world).login()
    cookie = client.get_cookie("ospost_session")
    assert cookie.secure and cookie.http_only
    assert cookie.same_site == "Lax"
    assert "Strict-Transport-Security" in client.get("/").headers


def test_production_refuses_to_start_without_secrets(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "FB_APP_SECRET", "TOKEN_ENCRYPTION_KEYS", "APP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FB_APP_ID", "123")
    with pytest.raises(RuntimeError, match="SECRET_KEY, FB_APP_SECRET"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions but holds almost nothing (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_before_decoding(app, client, user):
    resp = create_post(client, image=_png_header_only(40000, 40000))
    assert resp.status_code == 400
    assert "too many pixels" in resp.get_json()["error"]
    assert post_count(app) == 0


def test_fifty_megabyte_photo_is_refused(app, client, user):
    """The post form may carry videos (up to VIDEO_MAX_UPLOAD_MB, beyond
    which it is a 413: test_posts.py), but a photo is refused over 30 MB."""
    boundary, body = encode_multipart(
        {
            "date": local_input(soon(), "Europe/Paris"),
            "image": FileStorage(io.BytesIO(b"\xff" * (50 * 1024 * 1024)), "big.jpg"),
        }
    )
    resp = client.post(
        "/post/add",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=JSON,
    )
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["ok"] is False
    assert body["fields"]["image"] == (
        "This photo is 50 MB; a photo can be at most 30 MB."
    )
    assert post_count(app) == 0


SQL_METACHARACTERS = [
    "'; DROP TABLE posts; --",
    '" OR 1=1 --',
    "1; DELETE FROM users",
    "\\'; SELECT pg_sleep(5); --",
]


@pytest.mark.parametrize("payload", SQL_METACHARACTERS)
def test_sql_metacharacters_are_plain_text_everywhere(app, client, user, payload):
    resp = create_post(client, caption=payload, alt_text=payload)
    assert resp.status_code == 200
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        assert (post.caption, post.alt_text) == (payload, payload)
    bad_date = create_post(client, date="2026-12-01T09:30" + payload)
    assert bad_date.status_code == 400
    tz = client.post("/account/timezone", data={"timezone": payload})
    assert tz.status_code == 302
    login = client.post("/login", json={"accessToken": payload, "ig_id": payload})
    assert login.status_code in (400, 401, 403)
    reorder = client.post("/", json={"order": [payload]})
    assert reorder.status_code == 400
    assert client.get("/uploads/" + payload).status_code == 404
    with app.app_context():
        # Every table is still there, with its rows.
        assert db.session.scalar(text("SELECT count(*) FROM users")) == 1
        assert db.session.scalar(text("SELECT count(*) FROM posts")) == 1
        assert db.session.get(User, user.id).timezone == "Europe/Paris"


def test_script_in_caption_is_inert_on_every_page(app, client, user):
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"
    assert create_post(client, caption=evil, alt_text=evil).status_code == 200
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    for path in ("/", f"/post/{post_id}/edit", "/account"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html
        assert "<img src=x onerror" not in html
    status = client.get(f"/post/{post_id}/status")
    assert status.mimetype == "application/json"


def test_staged_images_are_only_served_by_their_random_name(app, client, user):
    staging = app.extensions["media_store"].staging_root
    staging.mkdir(parents=True, exist_ok=True)
    name = "A" * 32 + ".jpg"
    (staging / name).write_bytes(image_bytes(400, 400))
    with client.get(f"/static/tmp/{name}") as resp:
        assert resp.status_code == 200
        assert resp.data == (staging / name).read_bytes()
        assert resp.mimetype == "image/jpeg"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" in resp.headers
        assert "Set-Cookie" not in resp.headers  # no session for the crawler
    head = client.head(f"/static/tmp/{name}")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str((staging / name).stat().st_size)
    assert client.post(f"/static/tmp/{name}").status_code == 405
    missing = "B" * 32 + ".jpg"
    for probe in ("../app.py", "x.jpg", "A" * 31 + ".jpg", "A" * 32 + ".png", missing):
        assert client.get(f"/static/tmp/{probe}").status_code == 404


def test_own_images_and_pages_are_never_stored_by_caches(app, client, user):
    assert create_post(client).status_code == 200
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
    for name in (post.filename, post.thumbnail):
        with client.get(f"/uploads/{name}") as resp:
            assert resp.status_code == 200
            assert resp.headers["Cache-Control"] == "private, no-store"
            assert "Expires" not in resp.headers
    # The same for every page and answer that carries the person's data.
    for path in ("/", f"/post/{post.id}/edit", f"/post/{post.id}/status", "/account"):
        assert client.get(path).headers["Cache-Control"] == "private, no-store"
    # Public files keep their own caching.
    with client.get("/vendor/bootstrap.min.css") as vendor:
        assert "no-store" not in vendor.headers["Cache-Control"]


DOT_PATHS = [
    "/static/./tmp/.gitkeep",
    "/static/x/../tmp/.gitkeep",
    "/static/css/../tmp/.gitkeep",
    "/static/tmp/./.gitkeep",
    "/static/%2e/tmp/.gitkeep",
    "/static/%2E/tmp/.gitkeep",
    "/static/css/%2e%2e/tmp/.gitkeep",
    "/static/.%2Ftmp/.gitkeep",
    "/static/.%2ftmp/.gitkeep",
    "/static//tmp/.gitkeep",
    "/static/tmp//.gitkeep",
    "/static/./css/../tmp/" + "A" * 32 + ".jpg",
    "/static/./css/styles.css",
    "/uploads/./x.jpg",
    "/uploads/%2e%2e/app.py",
    "/vendor/./bootstrap.min.css",
    "/vendor/x/../bootstrap.min.css",
    "/./login",
    "/post//add",
]


@pytest.mark.parametrize("path", DOT_PATHS)
def test_dot_segments_and_double_slashes_reach_nothing(make_app, path):
    """Browsers resolve ``.``/``..`` before sending a URL; only crafted requests
    carry them, and they must not reach the staging folder (the default one lies
    inside static/) through Flask's static route, or anything else."""
    app = make_app(STAGING_FOLDER=str(ROOT / "static" / "tmp"))
    with app.test_client().get(path) as resp:
        assert resp.status_code == 404, resp.status
        assert "does not exist" in resp.get_data(as_text=True)


def test_static_route_serves_nothing_from_the_staging_folder(make_app, tmp_path):
    """Even a path Flask's static route would resolve into the staging folder
    (here: staging is static/ itself) is answered by the staged-name check only."""
    app = make_app(STAGING_FOLDER=str(ROOT / "static"))
    client = app.test_client()
    with client.get("/static/css/styles.css") as resp:
        assert resp.status_code == 404
    # With staging elsewhere, static files are served as usual.
    with make_app().test_client().get("/static/css/styles.css") as resp:
        assert resp.status_code == 200


def production_config(tmp_path, **overrides) -> dict:
    """Settings with which ``create_app`` runs for real (not demo, not testing)."""
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
        "DEMO": False,
        "FB_APP_ID": "123",
        "FB_APP_SECRET": "s",
        "APP_URL": "https://ospost.example",
        "SECRET_KEY": "3f9a1c7e5b2d8f406e1a9c3b7d5f2e8a",
        "TOKEN_ENCRYPTION_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
        "SCHEDULER_ENABLED": False,
        **overrides,
    }


@pytest.mark.parametrize(
    "secret", ["a", "short-but-not-that-short", "ab" * 20, "x" * 64]
)
def test_production_refuses_a_weak_secret_key(monkeypatch, tmp_path, secret):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY is too weak") as info:
        create_app(production_config(tmp_path, SECRET_KEY=secret))
    assert "token_hex(32)" in str(info.value)
    if len(secret) > 1:
        assert secret not in str(info.value)  # never echoed into logs


GOOD_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="


@pytest.mark.parametrize("keys", ["not-a-key", f"{GOOD_KEY},short", "a" * 44])
def test_token_keys_must_be_fernet_keys(monkeypatch, tmp_path, keys):
    monkeypatch.delenv("TOKEN_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(RuntimeError, match="TOKEN_ENCRYPTION_KEYS") as info:
        create_app(production_config(tmp_path, TOKEN_ENCRYPTION_KEYS=keys))
    assert "not a valid Fernet key" in str(info.value)
    assert "short" not in str(info.value)  # the keys themselves stay out of logs


def test_production_starts_with_strong_settings(tmp_path):
    app = create_app(production_config(tmp_path))
    assert app.config["TOKEN_ENCRYPTION_KEYS"] == [
        "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="
    ]


def test_dev_server_does_not_tell_its_versions(app):
    """``make run`` (werkzeug's server) sent ``Server: Werkzeug/3.1.9
    Python/3.11.7``; an attacker reads off which known bugs to try."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        for path in ("/login", "/nope", "/healthz"):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.getheader("Server") == "Ospost", path
            conn.close()
    finally:
        server.shutdown()
        server.server_close()


def mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def usual_umask():
    """The umask most servers run with (022), whatever the test runner's is."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_database_and_uploads_are_private_staged_copies_public(
    usual_umask, make_app, tmp_path, auth
):
    """Other local accounts may read neither the database (sessions, encrypted
    tokens) nor uploads; staged copies stay readable for an nginx running as
    another user, since Meta's crawler fetches them without login anyway."""
    db_file = tmp_path / "data" / "ospost.db"
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_file}")
    client = app.test_client()
    type(auth)(client, auth.world).login()
    assert create_post(client).status_code == 200
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        owner = db.session.get(User, post.user_id).ig_account_id
    assert mode(db_file.parent) == 0o700
    for name in ("ospost.db", "ospost.db-wal", "ospost.db-shm"):
        assert mode(db_file.parent / name) == 0o600, name
    store = app.extensions["media_store"]
    assert mode(store.upload_root) == 0o700
    assert mode(store.user_dir(owner)) == 0o700
    for name in (post.filename, post.thumbnail):
        assert mode(store.path(owner, name)) == 0o600
    staged = store.stage(owner, post.filename, "S" * 32 + ".jpg")
    assert mode(store.staging_root) == 0o755
    assert mode(store.staging_root / staged) == 0o644


def test_loose_modes_of_an_older_install_are_tightened(usual_umask, make_app, tmp_path):
    db_file = tmp_path / "old.db"
    db_file.touch(mode=0o644)
    (tmp_path / "old.db-shm").touch(mode=0o644)
    uploads = tmp_path / "uploads"
    uploads.mkdir(mode=0o755)
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_file}")
    assert mode(db_file) == mode(tmp_path / "old.db-shm") == 0o600
    assert mode(uploads) == 0o700
    assert app.extensions["media_store"].upload_root == uploads


def echo_app(make_app, **config):
    """An app with a route that shows whom and how it thinks it was called."""
    app = make_app(**config)

    def whoami():
        from flask import request

        return {
            "remote_addr": request.remote_addr,
            "scheme": request.scheme,
            "host": request.host,
        }

    app.add_url_rule("/_whoami", "whoami", whoami)
    return app.test_client()


SPOOFED = {
    "X-Forwarded-For": "203.0.113.66, 198.51.100.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
}


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(make_app):
    client = echo_app(make_app)
    seen = client.get("/_whoami", headers=SPOOFED).get_json()
    assert seen == {"remote_addr": "127.0.0.1", "scheme": "http", "host": "localhost"}


def test_forwarded_headers_are_trusted_for_the_configured_hops(make_app):
    client = echo_app(make_app, TRUSTED_PROXY_COUNT=1)
    seen = client.get("/_whoami", headers=SPOOFED).get_json()
    # One proxy: only the address it appended counts, not what the client sent.
    assert seen == {
        "remote_addr": "198.51.100.7",
        "scheme": "https",
        "host": "evil.example",
    }
    client = echo_app(make_app, TRUSTED_PROXY_COUNT=2)
    assert client.get("/_whoami", headers=SPOOFED).get_json()["remote_addr"] == (
        "203.0.113.66"
    )


@pytest.mark.parametrize("hops", [-1, "one", 1.5, True])
def test_trusted_proxy_count_must_be_a_whole_number(make_app, hops):
    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_COUNT"):
        make_app(TRUSTED_PROXY_COUNT=hops)


def test_head_of_the_login_page_answers_like_get(client):
    """HEAD is a read, never a login attempt (it was a 400 before)."""
    assert client.head("/login").status_code == 200
