"""Graph API calls through the proxy the environment names, as a company
network or a locked-down host would require."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from ospost.graph import GraphClient
from ospost.graph import GraphNetworkError

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class _Proxy(BaseHTTPRequestHandler):
    """Answers every proxied request itself and remembers what it was sent."""

    seen: list[dict] = []

    def do_GET(self):
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.seen.append({"target": self.path, **headers})
        body = json.dumps({"id": "17841400000000001", "username": "demo"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def client() -> GraphClient:
    # Nothing listens on graph.example: only the proxy can answer.
    return GraphClient("http://graph.example/v21.0/", "app", "secret", timeout=5)


def test_calls_go_through_the_proxy_with_its_password(monkeypatch, proxy):
    monkeypatch.setenv("http_proxy", f"http://ops:s%40fe@127.0.0.1:{proxy}")
    profile = client().ig_profile("17841400000000001", "user-token")
    assert profile["username"] == "demo"
    (sent,) = _Proxy.seen
    assert sent["target"].startswith("http://graph.example/v21.0/17841400000000001?")
    # Basic auth of "ops:s@fe", decoded from the URL as requests did.
    assert sent["proxy-authorization"] == "Basic b3BzOnNAZmU="
    assert sent["authorization"] == "Bearer user-token"
    assert "user-token" not in sent["target"]


def test_a_proxy_without_scheme_means_http(monkeypatch, proxy):
    monkeypatch.setenv("all_proxy", f"127.0.0.1:{proxy}")
    assert client().ig_profile("17841400000000001", "t")["id"]
    assert len(_Proxy.seen) == 1


def test_no_proxy_hosts_are_reached_directly(monkeypatch, proxy):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy}")
    monkeypatch.setenv("no_proxy", "graph.example")
    with pytest.raises(GraphNetworkError):
        client().ig_profile("17841400000000001", "t")  # no such host
    assert _Proxy.seen == []


def test_an_unsupported_proxy_is_a_network_error_not_a_crash(monkeypatch, proxy):
    monkeypatch.setenv("http_proxy", f"socks5://127.0.0.1:{proxy}")
    graph = client()  # building the client must not fail
    with pytest.raises(GraphNetworkError, match="Could not reach Instagram"):
        graph.ig_profile("17841400000000001", "t")
