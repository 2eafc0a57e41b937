"""Can Meta fetch the images? The APP_URL checks (address, scheme, round trip
through a live server), the account page's panel, the start-up log, and the
failure message of a post whose image Meta could not download."""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from models import Post
from models import PostStatus
from models import db
from ospost import reachability
from ospost.graph import GraphError
from ospost.reachability import EXPECTED
from ospost.reachability import OK
from ospost.reachability import PROBLEM
from ospost.reachability import check_address
from ospost.reachability import check_scheme
from ospost.reachability import probe
from support import AuthActions
from support import create_post
from support import post_row
from support import serve_app
from support import wait_for

JSON = {"Accept": "application/json"}
KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="


def dead_url() -> str:
    """An http:// URL nothing listens at."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def serving(wsgi_app):
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@Request.application
def misbehaving(request: Request) -> Response:
    """A web server in front of Ospost that gets the images wrong, one way per
    path prefix."""
    if request.path.startswith("/redirect/"):
        target = "https://ospost.example" + request.path.removeprefix("/redirect")
        return Response(status=301, headers={"Location": target})
    if request.path.startswith("/no-bots/"):
        if "facebookexternalhit" in request.user_agent.string:
            return Response("go away", status=403)
    if request.path.startswith("/login-page/"):
        return Response("<h1>Please log in</h1>", content_type="text/html")
    return Response("not here", status=404)


@pytest.fixture(autouse=True)
def fresh_dns_cache():
    reachability._dns_cache.clear()
    yield
    reachability._dns_cache.clear()


# -- the address ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000",
        "https://192.168.1.20",
        "https://172.16.3.4/",
        "https://169.254.10.1",
        "https://[fd00::1]:8443",
        "https://100.64.0.7",
    ],
)
def test_private_addresses_are_flagged(url):
    finding = check_address(url, local_expected=True)
    assert finding.level == PROBLEM
    assert "private network address" in finding.message
    assert "Meta cannot download your images" in finding.message


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "http://[::1]:5000"])
def test_loopback_is_flagged_in_production_and_expected_in_demo(url):
    problem = check_address(url, local_expected=False)
    assert problem.level == PROBLEM and "loopback address" in problem.message
    expected = check_address(url, local_expected=True)
    assert expected.level == EXPECTED and "as expected in demo mode" in expected.message


def test_the_any_address_and_a_missing_host_are_flagged():
    assert check_address("http://0.0.0.0:5000", local_expected=True).level == PROBLEM
    finding = check_address("https://", local_expected=False)
    assert finding.level == PROBLEM and "no host name" in finding.message


def test_only_global_addresses_are_fine():
    finding = check_address("https://203.0.113.9", local_expected=False)
    # 203.0.113.0/24 is documentation space, not global: flagged too.
    assert finding.level == PROBLEM
    assert check_address("https://8.8.8.8", local_expected=False).level == OK


def test_a_host_name_resolving_to_loopback_is_flagged():
    finding = check_address("https://localhost:8443", local_expected=False)
    assert finding.level == PROBLEM
    assert "localhost resolves to" in finding.message
    assert "loopback address" in finding.message
    demo = check_address("http://localhost:5000", local_expected=True)
    assert demo.level == EXPECTED


def test_a_host_name_resolving_to_a_private_address_is_flagged(monkeypatch):
    """The name's resolution is faked at the resolver (no DNS server here)."""
    answers = {"ospost.intranet": [(socket.AF_INET, 1, 6, "", ("10.20.30.40", 0))]}
    calls = []

    def getaddrinfo(host, *args, **kwargs):
        calls.append(host)
        if host in answers:
            return answers[host]
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    finding = check_address("https://ospost.intranet", local_expected=True)
    assert finding.level == PROBLEM
    assert "ospost.intranet resolves to 10.20.30.40" in finding.message
    assert "private network address" in finding.message
    # Cached: the account page does not ask the resolver on every view.
    check_address("https://ospost.intranet", local_expected=True)
    assert calls == ["ospost.intranet"]

    missing = check_address("https://ospost.invalid", local_expected=False)
    assert missing.level == PROBLEM
    assert "ospost.invalid does not resolve" in missing.message
    assert "Name or service not known" in missing.message


def test_a_slow_resolver_is_not_waited_for(monkeypatch):
    def slow(*args, **kwargs):
        time.sleep(1)
        return [(socket.AF_INET, 1, 6, "", ("8.8.8.8", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    monkeypatch.setattr(reachability, "DNS_TIMEOUT", 0.1)
    started = time.monotonic()
    assert reachability.resolve("slow.example", timeout=0.1) == "no answer within 0.1 s"
    assert time.monotonic() - started < 0.5


# -- the scheme ------------------------------------------------------------------


def test_http_is_flagged_in_production_only():
    problem = check_scheme("http://ospost.example", production=True)
    assert problem.level == PROBLEM
    assert "http:// in production" in problem.message
    assert "redirect instead of the image" in problem.message
    assert check_scheme("https://ospost.example", production=True).level == OK
    assert check_scheme("http://127.0.0.1:5000", production=False).level == EXPECTED


# -- the round trip ----------------------------------------------------------------


def test_the_probe_round_trips_through_a_live_server(app, live_server):
    store = app.extensions["media_store"]
    result = probe(live_server, store)
    assert result.finding.level == OK, result.finding.message
    assert "got it back unchanged" in result.finding.message
    assert result.url.startswith(f"{live_server}/static/tmp/")
    assert list(store.staging_root.iterdir()) == []  # the probe file is gone


def test_the_probe_reports_nothing_listening(app):
    url = dead_url()
    result = probe(url, app.extensions["media_store"], timeout=2)
    assert result.finding.level == PROBLEM and result.refused
    assert "could not fetch a test image through APP_URL" in result.finding.message
    assert "Connection refused" in result.finding.message
    assert list(app.extensions["media_store"].staging_root.iterdir()) == []


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("/redirect", "redirect (HTTP 301 to https://ospost.example/static/tmp/"),
        ("/no-bots", "refused the test image (HTTP 403)"),
        ("/login-page", "not with the test image (text/html"),
        ("/elsewhere", "answered the test image with HTTP 404"),
    ],
)
def test_the_probe_reports_what_stands_in_the_way(app, prefix, expected):
    with serving(misbehaving) as front:
        result = probe(front + prefix, app.extensions["media_store"], timeout=2)
    assert result.finding.level == PROBLEM
    assert expected in result.finding.message
    assert not result.refused


def test_the_probe_reports_a_staging_folder_it_cannot_write(app, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    store = app.extensions["media_store"]
    store.staging_root = blocker / "staging"
    result = probe("http://127.0.0.1:9", store)
    assert result.finding.level == PROBLEM
    assert "could not write a test file to the staging folder" in result.finding.message


# -- the account page and the start-up log -----------------------------------------


def account_panel(client) -> str:
    resp = client.get("/account")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    start = page.index('id="app-url"')
    return page[start : page.index("</section>", start)]


def test_the_account_page_shows_each_check_and_checks_again(app, client, user):
    with serve_app(app) as url:
        panel = account_panel(client)
        assert "Can Meta fetch your images?" in panel
        assert "Expected here" in panel and "as expected in demo mode" in panel
        assert "Not checked yet" in panel  # tests start no background check

        resp = client.post("/account/app-url/check")
        assert resp.status_code == 302
        assert resp.headers["Location"].endswith("/account#app-url")
        checks = app.extensions["reachability"]
        wait_for(lambda: checks.last is not None, timeout=10)
        panel = account_panel(client)
    assert "got it back unchanged" in panel
    assert url in panel


def test_the_account_page_explains_a_private_app_url(make_app, world):
    app = make_app(APP_URL="http://10.1.2.3:8000")
    client = app.test_client()
    AuthActions(client, world).login()
    panel = account_panel(client)
    assert 'data-check="address" data-level="problem"' in panel
    assert "10.1.2.3, a private network address" in panel


def test_a_production_start_logs_each_problem(make_app, caplog):
    url = dead_url()
    caplog.set_level(logging.INFO, logger="ospost.reachability")
    make_app(
        TESTING=False,
        SECRET_KEY="reachability-test-secret-0123456789abcdef",
        TOKEN_ENCRYPTION_KEYS=[KEY],
        APP_URL=url,
    )

    def warnings():
        found = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        return found if len(found) >= 3 else None

    found = wait_for(warnings, timeout=10)
    assert any("loopback address" in m for m in found)
    assert any("http:// in production" in m for m in found)
    assert any("Connection refused" in m for m in found)


def test_a_demo_start_says_loopback_is_expected(make_app, caplog, live_server):
    caplog.set_level(logging.INFO, logger="ospost.reachability")
    app = make_app(DEMO=True, TESTING=False, APP_URL=live_server)
    checks = app.extensions["reachability"]
    wait_for(lambda: checks.last is not None, timeout=10)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert not [m for level, m in messages if level == "WARNING"]
    assert any("as expected in demo mode" in m for _, m in messages)


# -- a post Meta could not fetch -------------------------------------------------------


def test_media_fetch_failure_names_the_url_and_the_readme_section(make_app, world):
    """The simulator's crawler finds nothing at APP_URL: Meta's 9004/2207052."""
    app = make_app(start_scheduler=True, PUBLISH_MAX_ATTEMPTS=2)
    app.config["APP_URL"] = dead_url()
    client = app.test_client()
    AuthActions(client, world).login()
    assert create_post(client).status_code == 200
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    client.post(f"/post/{post_id}/publish", headers=JSON)

    def failed():
        row = post_row(app, post_id)
        return row if row.status == PostStatus.FAILED else None

    post = wait_for(failed, timeout=15)
    assert (post.error_code, post.error_subcode) == (9004, 2207052)
    message = post.error_message
    image_url = f"{app.config['APP_URL']}/static/tmp/"
    assert f"Meta could not download the image from {image_url}" in message
    assert "“Meta must be able to fetch your images”" in message
    assert "README.md#meta-must-be-able-to-fetch-your-images" in message
    assert f"{app.config['APP_URL']}/account#app-url" in message
    page = client.get(f"/post/{post_id}/edit").get_data(as_text=True)
    assert f'href="{app.config["APP_URL"]}/account#app-url"' in page


def test_a_fetch_error_without_a_url_keeps_metas_words():
    error = GraphError(
        "Only photo or video can be accepted as media type.",
        code=9004,
        subcode=2207052,
        user_msg="The media could not be fetched from this uri: https://x/y.jpg",
    )
    message = error.user_message()
    assert message.startswith(
        "Meta could not download the image (The media could not be fetched "
        "from this uri: https://x/y.jpg)."
    )
    assert "Meta must be able to fetch your images" in message
    other = GraphError("Too many tags", code=100, user_msg="Fewer tags, please.")
    assert other.user_message() == "Fewer tags, please."
