"""Browser fixtures: Debian's Chromium driven by Playwright, the app on a real
HTTP server, the Graph API simulator as its own server (``sim`` in
tests/conftest.py), and a fake Facebook JS SDK served in place of Meta's.

A missing browser is an error, never a skip: CI must run these tests.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from .support import BROWSER_TZ
from .support import CHROMIUM
from .support import CHROMIUM_ARGS
from .support import FB_SDK_URL
from .support import PAGE_WATCH_JS
from .support import UI
from .support import VIEWPORTS
from .support import BrowserProblems
from .support import FakeFacebook

ACTION_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def playwright_driver():
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright_driver):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium "
            "(apt-get install chromium) to run the browser tests",
            pytrace=False,
        )
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def serve_app(make_app):
    """Build an app (CSRF on) and serve it over HTTP in a thread; returns the app.

    ``APP_URL`` is the live address, so the simulator's crawler can fetch the
    staged images. Keyword arguments go to ``make_app``.
    """
    servers = []

    def start(**overrides):
        overrides.setdefault("WTF_CSRF_ENABLED", True)
        app = make_app(**overrides)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        app.config["APP_URL"] = f"http://127.0.0.1:{server.server_port}"
        return app

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def live_app(serve_app):
    """The usual app: CSRF enforced and the publishing scheduler running."""
    return serve_app(start_scheduler=True)


@pytest.fixture
def viewport() -> str:
    """desktop or phone; tests parametrize it to run at both sizes."""
    return "desktop"


@pytest.fixture
def open_browser(chromium, world, viewport, serve_app):
    """Open a browser context (one person); problems fail the test at teardown.

    (It depends on ``serve_app`` so that contexts close before servers stop.)
    """
    opened: list[tuple[UI, BrowserProblems]] = []

    def start(size: str | None = None) -> UI:
        size = size or viewport
        phone = size == "phone"
        context = chromium.new_context(
            viewport=VIEWPORTS[size],
            timezone_id=BROWSER_TZ,
            locale="en-US",
            is_mobile=phone,
            has_touch=phone,
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        problems = BrowserProblems()
        fb = FakeFacebook(world)
        context.route(FB_SDK_URL, fb.handle)
        context.add_init_script(PAGE_WATCH_JS % VIEWPORTS[size]["width"])
        context.on("console", problems.on_console)
        context.on("weberror", problems.on_web_error)
        context.on("response", problems.on_response)
        ui = UI(context, problems, fb, size)
        opened.append((ui, problems))
        return ui

    yield start
    found = []
    for ui, problems in opened:
        ui.context.close()
        found.extend(problems.problems)
    if found:
        pytest.fail("browser problems:\n" + "\n".join(found), pytrace=False)


@pytest.fixture
def ui(open_browser, live_app) -> UI:
    """A person's browser pointed at ``live_app``."""
    return open_browser().use(live_app)
