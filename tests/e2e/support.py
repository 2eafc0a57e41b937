"""What the browser journeys share: the fake Facebook SDK, the browser-problem
collector, a small page driver (``UI``), images, local times and database reads.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from PIL import ImageDraw
from playwright.sync_api import BrowserContext
from playwright.sync_api import ConsoleMessage
from playwright.sync_api import Locator
from playwright.sync_api import Response
from playwright.sync_api import Route
from playwright.sync_api import WebError
from playwright.sync_api import expect
from sqlalchemy import select

import simulator
from models import Post
from models import User
from models import db

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
# axe-core, locked in package-lock.json (a dev dependency), injected by the tests.
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
# Journeys 1-5 run at both sizes: @BOTH_SIZES (it parametrizes the viewport fixture).
BOTH_SIZES = pytest.mark.parametrize("viewport", list(VIEWPORTS))
BROWSER_TZ = "America/Los_Angeles"
FB_SDK_URL = "https://connect.facebook.net/**"

# Runs in every page before its own scripts: reports Content-Security-Policy
# violations and horizontal overflow as console errors, which fail the test.
PAGE_WATCH_JS = """
(() => {
  const LIMIT = %d;
  document.addEventListener('securitypolicyviolation', (event) => {
    const where = `${event.sourceFile}:${event.lineNumber}`;
    console.error(`CSP violation: ${event.violatedDirective} blocked ` +
      `${event.blockedURI || 'inline code'} in ${where}`);
  });
  window.addEventListener('load', () => requestAnimationFrame(() => {
    const width = document.documentElement.scrollWidth;
    if (width > LIMIT || window.innerWidth > LIMIT) {
      console.error(`Horizontal overflow: ${location.pathname} is ${width}px wide ` +
        `in a ${LIMIT}px viewport`);
    }
  }));
})();
"""

# The Facebook JS SDK as far as the login page uses it. __AUTH__ is the
# authResponse FB.login() hands back (null: the person cancelled).
FAKE_SDK_JS = """
(() => {
  const authResponse = __AUTH__;
  window.FB = {
    init(options) { window.__fbInitOptions = options; },
    login(callback, options) {
      window.__fbLoginOptions = options;
      window.setTimeout(() => callback(authResponse
        ? { status: 'connected', authResponse }
        : { status: 'unknown', authResponse: null }), 20);
    },
    getLoginStatus(callback) { callback({ status: 'unknown', authResponse: null }); },
    logout(callback) { if (callback) callback({ status: 'unknown' }); },
  };
  if (typeof window.fbAsyncInit === 'function') window.fbAsyncInit();
})();
"""


class FakeFacebook:
    """Serves sdk.js; every load carries a fresh simulator token for ``user``."""

    def __init__(self, world: simulator.GraphWorld) -> None:
        self.world = world
        self.user = "demo"  # a simulator.DEMO_USERS handle
        self.cancel = False  # FB.login() without an authResponse
        self.tokens: list[str] = []

    def handle(self, route: Route) -> None:
        auth = None
        if not self.cancel:
            issued = self.world.issue_token(simulator.DEMO_USERS[self.user])
            auth = {
                key: issued[key]
                for key in ("accessToken", "expiresIn", "userID", "signedRequest")
            }
            self.tokens.append(issued["accessToken"])
        body = FAKE_SDK_JS.replace("__AUTH__", json.dumps(auth))
        route.fulfill(status=200, content_type="application/javascript", body=body)


@dataclass
class BrowserProblems:
    """Console errors, page errors and pages without a CSP, minus expected ones."""

    problems: list[str] = field(default_factory=list)
    expected: list[tuple[str, int]] = field(default_factory=list)

    def expect_http_error(self, url: str, status: int) -> None:
        """A response we cause on purpose: Chromium logs it as a console error."""
        self.expected.append((url, status))

    def _is_expected(self, msg: ConsoleMessage) -> bool:
        url = msg.location.get("url", "")
        return msg.text.startswith("Failed to load resource") and any(
            url == want_url and f"status of {status} " in msg.text
            for want_url, status in self.expected
        )

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and not self._is_expected(msg):
            where = msg.location
            self.problems.append(
                f"console error: {msg.text} "
                f"({where.get('url')}:{where.get('lineNumber')})"
            )

    def on_web_error(self, error: WebError) -> None:
        self.problems.append(f"page error: {error.error}")

    def on_response(self, response: Response) -> None:
        if response.request.resource_type != "document":
            return
        if not response.url.startswith("http://127.0.0.1"):
            return
        if "content-security-policy" not in response.headers:
            self.problems.append(f"no Content-Security-Policy on {response.url}")


class UI:
    """One browser context (one person) driving an Ospost server."""

    def __init__(
        self,
        context: BrowserContext,
        problems: BrowserProblems,
        fb: FakeFacebook,
        viewport: str,
    ) -> None:
        self.context = context
        self.page = context.new_page()
        self.problems = problems
        self.fb = fb
        self.viewport = viewport
        self.width = VIEWPORTS[viewport]["width"]
        self.base_url = ""

    # -- navigation ---------------------------------------------------------------

    def use(self, app) -> UI:
        """Point this browser at a served app (see the ``serve_app`` fixture)."""
        self.base_url = app.config["APP_URL"]
        return self

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Response | None:
        response = self.page.goto(self.url(path))
        self.assert_fits()
        return response

    def expect_path(self, path: str) -> None:
        """The page is at ``path`` and done loading."""
        expect(self.page).to_have_url(self.url(path))
        self.page.wait_for_load_state()

    def nav(self, name: str) -> None:
        """Follow a link of the main navigation."""
        links = self.page.get_by_role("navigation", name="Main")
        with self.page.expect_navigation():
            links.get_by_role("link", name=name, exact=True).click()
        self.assert_fits()

    def log_out(self) -> None:
        """Press Log out: in the nav bar, or in the account menu on a phone."""
        if self.viewport == "phone":
            self.page.locator("[data-account-switcher] > summary").click()
        self.page.get_by_role("button", name="Log out").click()

    # -- checks -------------------------------------------------------------------

    def assert_fits(self) -> None:
        """Nothing on the page is wider than the viewport."""
        # Measure the finished page (its stylesheets applied), not one loading.
        self.page.wait_for_load_state()
        width, inner = self.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width <= self.width and inner <= self.width, (
            f"{self.page.url} overflows: {width}px wide, innerWidth {inner}, "
            f"viewport {self.width}px"
        )

    def flash(self) -> Locator:
        return self.page.locator("#alerts .alert")

    def shot(self, name: str, *, full_page: bool = True) -> None:
        """Save a screenshot for review (test-results/, git-ignored), and check
        the page as it is with axe-core: every state worth a picture is also
        checked for accessibility."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # Transitions are finished first: the picture (and axe's contrast
        # check) is of the page at rest, not half-faded.
        self.page.screenshot(
            path=str(SCREENSHOTS / f"{name}-{self.viewport}.png"),
            full_page=full_page,
            animations="disabled",
        )
        self.assert_accessible(name)

    def assert_accessible(self, state: str) -> None:
        """axe-core finds no violation in the page as it is now (WCAG 2.2 AA
        and best practices: contrast, names, roles, target sizes...)."""
        page = self.page
        if not page.evaluate("() => typeof window.axe === 'object'"):
            # Evaluated through the DevTools protocol: the page's CSP (rightly)
            # refuses the inline <script> that page.add_script_tag would add.
            page.evaluate(_axe_source())
        violations = page.evaluate(
            """() => axe.run(document, { resultTypes: ['violations'] })
                .then((result) => result.violations.map((v) => ({
                  id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') +
                    ': ' + n.failureSummary.replace(/\\s+/g, ' ')),
                })))"""
        )
        assert not violations, f"axe: {state} ({self.viewport}) has violations:\n" + (
            "\n".join(
                f"- {v['id']} ({v['impact']}): {v['help']}\n    "
                + "\n    ".join(v["nodes"])
                for v in violations
            )
        )

    # -- journeys' building blocks ---------------------------------------------------

    def login_with_facebook(self, user: str = "demo") -> None:
        """Log in through the login page's Facebook button (fake SDK, real server)."""
        self.fb.user = user
        self.goto("/login")
        self.click_facebook_login()

    def click_facebook_login(self) -> None:
        page = self.page
        page.wait_for_function("() => window.FB !== undefined")
        page.get_by_role("button", name="Log in with Facebook").click()
        page.wait_for_url(lambda url: "/login" not in url)
        self.assert_fits()

    def pick_image(self, path: Path) -> None:
        page = self.page
        page.locator("[data-crop-input]").set_input_files(str(path))
        expect(page.locator("[data-crop-info]")).to_contain_text("Crop:")
        expect(page.locator(".cropper-container")).to_be_visible()

    def fill_post(
        self,
        *,
        caption: str | None = None,
        alt_text: str | None = None,
        when: datetime | None = None,
    ) -> None:
        page = self.page
        if caption is not None:
            page.get_by_label("Caption").fill(caption)
        if alt_text is not None:
            page.get_by_label("Alt text").fill(alt_text)
        if when is not None:
            page.get_by_label("Publish at").fill(input_value(when))

    def add_post(
        self,
        image: Path,
        *,
        caption: str,
        when: datetime,
        alt_text: str = "",
    ) -> None:
        """Create a post through the New post page and land on the grid."""
        self.goto("/post/add")
        self.pick_image(image)
        self.fill_post(caption=caption, alt_text=alt_text, when=when)
        self.page.get_by_role("button", name="Schedule post").click()
        self.expect_path("/")
        expect(self.flash()).to_contain_text("New post scheduled")
        self.assert_fits()

    def toast(self) -> Locator:
        """The message at the bottom of the screen (lib/toast.js)."""
        return self.page.locator("#toasts .app-toast")

    def in_viewport(self, locator: Locator) -> bool:
        """The whole element is inside the visible part of the page."""
        box = locator.bounding_box()
        size = self.page.viewport_size
        return bool(
            box
            and box["x"] >= 0
            and box["y"] >= 0
            and box["x"] + box["width"] <= size["width"]
            and box["y"] + box["height"] <= size["height"]
        )

    def touch(self, kind: str, x: float = 0, y: float = 0) -> None:
        """One finger on the touch screen (Chromium's CDP touch events)."""
        if not hasattr(self, "_cdp"):
            self._cdp = self.context.new_cdp_session(self.page)
        points = [] if kind == "touchEnd" else [{"x": x, "y": y, "id": 1}]
        self._cdp.send(
            "Input.dispatchTouchEvent", {"type": kind, "touchPoints": points}
        )

    def swipe(self, x: float, y: float, dy: float, steps: int = 8) -> None:
        """A quick finger swipe from (x, y) by dy pixels (negative: upwards)."""
        self.touch("touchStart", x, y)
        for i in range(1, steps + 1):
            self.touch("touchMove", x, y + dy * i / steps)
        self.touch("touchEnd")

    def tile(self, alt_text: str) -> Locator:
        """The grid tile whose image has this description."""
        return self.page.locator(".tile").filter(
            has=self.page.get_by_alt_text(alt_text, exact=True)
        )

    def grid_times(self) -> Locator:
        return self.page.locator(".grid > .tile .tile-date time")

    def open_post(self, alt_text: str) -> None:
        self.tile(alt_text).locator(".tile-link").click()
        expect(self.page.get_by_role("heading", level=1)).to_have_text(
            re.compile(r"^(Edit post|Post)$")
        )
        self.assert_fits()


@functools.cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8") + "\n;0"


# -- images ----------------------------------------------------------------------


def landscape_jpeg(path: Path, width: int = 2400, height: int = 1200) -> Path:
    """A landscape photo with detail: warm on the left half, cool on the right."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 8):
        warm = x < width // 2
        shade = int(120 + 100 * (x % 240) / 240)
        color = (shade, 90, 40) if warm else (40, 90, shade)
        draw.rectangle([x, 0, x + 7, height], fill=color)
    for y in range(0, height, 100):
        draw.line([0, y, width, y], fill=(250, 250, 250), width=3)
    draw.ellipse([width // 2 - 200, 300, width // 2 + 200, 700], fill=(240, 220, 60))
    image.save(path, "JPEG", quality=90)
    return path


def noise_jpeg(path: Path, width: int, height: int) -> Path:
    """Random pixels: JPEG cannot compress them, so the file stays big."""
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        path, "JPEG", quality=95
    )
    return path


def mean_color(data: bytes) -> tuple[float, float, float]:
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").resize((1, 1), Image.Resampling.BOX)
        return small.getpixel((0, 0))


# -- times -----------------------------------------------------------------------


def local_at(days: int, hour: int, minute: int, tz: str = BROWSER_TZ) -> datetime:
    """``days`` from today at hour:minute on the clocks of ``tz`` (aware)."""
    zone = ZoneInfo(tz)
    day = datetime.now(zone).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def input_value(when: datetime) -> str:
    """What a person types into the datetime-local input (their own clock)."""
    return when.strftime("%Y-%m-%dT%H:%M")


def shown(when: datetime, tz: str = BROWSER_TZ) -> str:
    """How Ospost shows an instant to someone in ``tz``: ``Nov 24, 2026 09:30 PST``."""
    local = when.astimezone(ZoneInfo(tz))
    return f"{local:%b %d, %Y %H:%M} {local.tzname()}"


# -- database --------------------------------------------------------------------


def posts_of(app, ig_username: str = "ospost.demo") -> list[Post]:
    """The user's posts, detached, in publishing order."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.ig_username == ig_username))
        if user is None:
            return []
        posts = db.session.scalars(
            select(Post).where(Post.user_id == user.id).order_by(Post.scheduled_at)
        ).all()
        db.session.expunge_all()
        return list(posts)


def seed_posts(app, times: dict[str, datetime], photo: Path) -> None:
    """Schedule posts (alt text -> time) straight into the database, with real
    image files and scheduler jobs, faster than the New post page would."""
    from ospost.images import process_upload
    from ospost.scheduler import publisher

    processed = process_upload(photo.read_bytes())
    store = app.extensions["media_store"]
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.ig_username == "ospost.demo"))
        posts = []
        for alt_text, when in times.items():
            post = Post(user=owner, caption=f"{alt_text} #seed", alt_text=alt_text)
            post.filename, post.thumbnail = store.save(
                owner.ig_account_id, processed.jpeg, processed.thumbnail
            )
            post.width, post.height = processed.width, processed.height
            post.schedule(when)
            db.session.add(post)
            posts.append(post)
        db.session.commit()
        for post in posts:
            publisher.wake(post.id, post.scheduled_at)


def job_times(app) -> dict[int, datetime | None]:
    """Each post's scheduler wake-up (None when it has no job)."""
    from ospost.scheduler import publisher

    with app.app_context():
        ids = list(db.session.scalars(select(Post.id)))
    jobs = {i: publisher.scheduler.get_job(f"post-{i}") for i in ids}
    return {i: job.next_run_time if job else None for i, job in jobs.items()}


def stored_image(app, post: Post) -> Path:
    """Where the app keeps a post's full-size upload."""
    with app.app_context():
        owner = db.session.get(User, post.user_id)
        return app.extensions["media_store"].path(owner.ig_account_id, post.filename)


def user_row(app, ig_username: str = "ospost.demo") -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.ig_username == ig_username))
        if user is not None:
            db.session.expunge(user)
        return user
