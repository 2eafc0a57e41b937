"""Journeys 5-7: publish now, a token error and reconnecting, and a scheduled
post going out with nobody watching. The simulator crawls the staged image from
the live server, like Meta does.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from models import Post
from models import db
from ospost.scheduler import publisher
from support import wait_for

from .support import BOTH_SIZES
from .support import landscape_jpeg
from .support import local_at
from .support import posts_of
from .support import shown

pytestmark = pytest.mark.browser
PUBLISH_TIMEOUT_MS = 20_000


def slow_down(world) -> None:
    """Make publishing take a few seconds, so the page can show it in progress.

    Slow Graph calls rather than a slow container: every status check counts
    against PUBLISH_MAX_GRAPH_CALLS, and the tests check every 0.3 s.
    """
    world.configure(latency_ms=500, container_ready_after=0)


def assert_published_once(world, caption: str) -> dict:
    [live] = world.published()
    assert live["caption"] == caption
    assert live["format"] == "JPEG"
    assert 0.8 <= live["width"] / live["height"] <= 1.91
    assert live["width"] <= 1440
    return live


@BOTH_SIZES
def test_post_now_asks_then_shows_progress_in_sight_and_the_link(
    ui, live_app, world, tmp_path
):
    page = ui.page
    ui.login_with_facebook()
    slow_down(world)
    caption = "Live from the harbour 🌊 #now"
    ui.add_post(
        landscape_jpeg(tmp_path / "wide.jpg"),
        caption=caption,
        alt_text="Harbour",
        when=local_at(3, 8, 0),
    )
    ui.open_post("Harbour")
    post_now = page.get_by_role("button", name="Post now")
    # On a phone the button is far down the page: the person scrolls to it.
    post_now.scroll_into_view_if_needed()
    page.evaluate("window.__sameDocument = true")

    # It asks first; cancelling publishes nothing.
    post_now.click()
    dialog = page.get_by_role("dialog", name="Publish to @ospost.demo now?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Publish now")).to_be_focused()
    ui.shot("edit-confirm-publish", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert posts_of(live_app)[0].status == "scheduled"

    post_now.click()
    dialog.get_by_role("button", name="Publish now").click()
    toast = ui.toast()
    expect(toast).to_contain_text("Publishing…")
    # The progress is where the person is looking, wherever the page is.
    assert ui.in_viewport(toast)
    expect(page.get_by_role("button", name="Save changes")).to_be_disabled()
    ui.shot("edit-publishing", full_page=False)
    expect(toast).to_contain_text(
        "Published on Instagram on", timeout=PUBLISH_TIMEOUT_MS
    )
    [post] = posts_of(live_app)
    assert post.status == "published" and post.permalink.startswith("https://")
    published = shown(post.published_at)
    expect(toast).to_contain_text(f"Published on Instagram on {published}.")
    toast_link = toast.get_by_role("link", name="View on Instagram")
    expect(toast_link).to_have_attribute("href", post.permalink)
    expect(toast_link).to_be_focused()
    assert ui.in_viewport(toast)
    # The page shows the live post, read-only, without having reloaded.
    expect(page.get_by_role("heading", level=1)).to_have_text("Post")
    expect(page.locator(".post-status [data-status-text]")).to_have_text("Published")
    expect(page.locator(".post-status")).to_contain_text(
        f"Published on {shown(post.published_at)}"
    )
    expect(page.locator(".caption-text")).to_have_text(caption)
    assert page.evaluate("window.__sameDocument") is True
    ui.assert_fits()
    ui.shot("edit-published", full_page=False)

    live = assert_published_once(world, caption)
    assert post.ig_media_id == live["media_id"]

    ui.nav("Home")
    tile = ui.tile("Harbour")
    expect(tile.locator("[data-status-text]")).to_have_text("Published")
    expect(tile.locator("time")).to_have_text(shown(post.published_at))
    expect(page.get_by_text("0 upcoming · 1 published")).to_be_visible()


def test_token_error_asks_to_reconnect_then_retry_publishes(
    ui, live_app, world, tmp_path
):
    page = ui.page
    ui.login_with_facebook()
    caption = "Second try #retry"
    ui.add_post(
        landscape_jpeg(tmp_path / "wide.jpg", 1600, 1000),
        caption=caption,
        alt_text="Retry me",
        when=local_at(3, 8, 0),
    )
    # Meta says the login was invalidated (the person changed their password).
    world.add_fault({"endpoint": "create"}, {"http": 400, "code": 190, "subcode": 463})
    ui.open_post("Retry me")
    edit_path = page.url.removeprefix(ui.base_url)
    page.get_by_role("button", name="Post now").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()

    failure = page.locator("[data-failure]")
    expect(failure).to_contain_text(
        "Instagram disconnected Ospost from this account. Log in again",
        timeout=PUBLISH_TIMEOUT_MS,
    )
    expect(page.locator(".post-status [data-status-text]")).to_have_text("Failed")
    banner = page.locator(".reauth-banner")
    expect(banner).to_contain_text("Instagram disconnected")
    ui.assert_fits()
    ui.shot("edit-reconnect")

    # Retrying before reconnecting says what to do.
    publish_url = ui.url(edit_path.replace("/edit", "/publish"))
    ui.problems.expect_http_error(publish_url, 409)
    failure.get_by_role("button", name="Retry").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()
    expect(ui.toast()).to_contain_text("Log in again to reconnect Instagram")
    assert world.published() == []

    # The banner's link leads to the login page, and back to the post.
    banner.get_by_role("link", name="Log in again").click()
    ui.expect_path(f"/login?next={edit_path}")
    expect(page.locator(".reauth-banner")).to_have_count(0)
    ui.click_facebook_login()
    ui.expect_path(edit_path)
    expect(page.locator(".reauth-banner")).to_have_count(0)
    page.locator("[data-failure]").get_by_role("button", name="Retry").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()
    expect(page.locator(".post-status [data-status-text]")).to_have_text(
        "Published", timeout=PUBLISH_TIMEOUT_MS
    )
    expect(ui.toast().get_by_role("link", name="View on Instagram")).to_be_visible()
    expect(
        page.locator("#main").get_by_role("link", name="View on Instagram")
    ).to_be_visible()
    assert_published_once(world, caption)
    [post] = posts_of(live_app)
    assert post.status == "published"


def test_scheduled_post_publishes_by_itself(ui, live_app, world, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    slow_down(world)
    caption = "Right on time ⏰ #scheduled"
    ui.add_post(
        landscape_jpeg(tmp_path / "wide.jpg", 1600, 1000),
        caption=caption,
        alt_text="On time",
        when=local_at(1, 9, 30),
    )
    # The input has minute precision: bring the post to two seconds from now in
    # the database, and tell the scheduler, as editing it would.
    [post] = posts_of(live_app)
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    with live_app.app_context():
        db.session.get(Post, post.id).schedule(when)
        db.session.commit()
    publisher.wake(post.id, when)

    wait_for(lambda: posts_of(live_app)[0].status == "publishing", timeout=10)
    page.reload()
    badge = ui.tile("On time").locator("[data-status-text]")
    expect(badge).to_have_text("Publishing…")
    # The tile follows the post until it is live, without a reload.
    expect(badge).to_have_text("Published", timeout=PUBLISH_TIMEOUT_MS)
    [post] = posts_of(live_app)
    assert post.published_at >= when
    page.reload()
    expect(ui.tile("On time").locator("time")).to_have_text(shown(post.published_at))
    assert_published_once(world, caption)
