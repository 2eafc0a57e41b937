"""The live profile in a browser: the account's existing Instagram posts show
under the scheduled ones, three to a row like the profile, at desktop and
phone sizes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import FeedItem
from models import Post
from models import User
from models import db
from support import image_bytes
from support import soon

from .support import BOTH_SIZES

pytestmark = pytest.mark.browser


def page_boxes(page, selector: str) -> list[dict]:
    """Where the elements are on the page (not the viewport), at one instant."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map((el) => {
          const r = el.getBoundingClientRect();
          return {top: r.top + scrollY, bottom: r.bottom + scrollY,
                  left: r.left, right: r.right};
        })""",
        selector,
    )


def schedule_posts(app, *minutes: int) -> None:
    """Scheduled posts of the logged-in account, with their images, as the
    New post page would leave them."""
    store = app.extensions["media_store"]
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        for i, ahead in enumerate(minutes):
            color = (40 + 80 * i, 120, 200 - 60 * i)
            names = store.save(
                user.ig_account_id,
                image_bytes(1080, 1350, color=color),
                image_bytes(480, 600, color=color),
            )
            post = Post(user=user, caption=f"in {ahead} minutes", alt_text=f"Plan {i}")
            post.filename, post.thumbnail = names
            post.width, post.height = 1080, 1350
            post.schedule(soon(ahead))
            db.session.add(post)
        db.session.commit()


@BOTH_SIZES
def test_existing_feed_shows_under_the_scheduled_posts(ui, live_app, world):
    page = ui.page
    ui.login_with_facebook()
    schedule_posts(live_app, 90, 180)

    ui.goto("/")
    section = page.get_by_role("region", name="On Instagram now")
    expect(section).to_contain_text("has not read your Instagram posts yet")
    with page.expect_navigation():
        section.get_by_role("button", name="Read them now").click()
    expect(ui.flash()).to_contain_text("Feed refreshed from Instagram")
    ui.assert_fits()

    with live_app.app_context():
        items = db.session.scalars(
            select(FeedItem).order_by(FeedItem.posted_at.desc())
        ).all()
        expected = len(items)
        newest = items[0].permalink
    tiles = section.locator(".feed-tile")
    expect(tiles).to_have_count(expected)
    expect(page.locator(".grid > .tile")).to_have_count(2)
    # The page was sent to #feed (smoothly): measure in page coordinates.
    scheduled, feed = page_boxes(page, ".grid > .tile"), page_boxes(page, ".feed-tile")
    # The feed comes after the scheduled tiles, not among them.
    assert feed[0]["top"] >= max(box["bottom"] for box in scheduled)
    assert tiles.first.locator("a").get_attribute("href") == newest
    # Three to a row, 3:4, like the profile.
    assert feed[0]["top"] == feed[1]["top"] == feed[2]["top"] < feed[3]["top"]
    assert feed[0]["left"] < feed[1]["left"] < feed[2]["left"]
    width = feed[0]["right"] - feed[0]["left"]
    assert abs((feed[0]["bottom"] - feed[0]["top"]) / width - 4 / 3) < 0.05
    # Every picture is our own copy, and loaded.
    images = section.locator("img.feed-img")
    expect(images).to_have_count(expected)
    images.last.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.feed-img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    sources = images.evaluate_all("(imgs) => imgs.map((img) => img.src)")
    assert all("/feed/thumbnails/" in src for src in sources)
    assert section.locator(".feed-icon").count() >= 2  # reels and carousels
    expect(section.get_by_text(re.compile(r"^Reel posted")).first).to_be_attached()
    # The header: Meta's figures and the Refresh button.
    header = page.locator(".profile")
    expect(header).to_contain_text(
        re.compile(rf"{expected} posts\s+[\d,.KM]+ followers\s+[\d,.KM]+ following")
    )
    button = header.get_by_role("button", name="Refresh from Instagram")
    expect(button).to_be_visible()
    if ui.viewport == "phone":  # a tap target of 44 px or more on touch screens
        assert button.bounding_box()["height"] >= 44
    ui.assert_fits()
    page.evaluate("window.scrollTo(0, 0)")
    ui.shot("feed")
