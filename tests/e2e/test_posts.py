"""Journeys 2-4: create a post with the cropper, reorder the grid (long-press
drag and the keyboard alternative), edit and remove posts.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator
from playwright.sync_api import Page
from playwright.sync_api import expect

from .support import BOTH_SIZES
from .support import input_value
from .support import landscape_jpeg
from .support import local_at
from .support import mean_color
from .support import posts_of
from .support import shown
from .support import stored_image

pytestmark = pytest.mark.browser


@BOTH_SIZES
def test_create_post_from_a_photo_that_needs_cropping(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    page.get_by_role("link", name="Create your first post").click()
    ui.expect_path("/post/add")

    # 2400 x 1200 is wider than Instagram allows: the cropper starts at 1.91:1.
    ui.pick_image(landscape_jpeg(tmp_path / "harbour.jpg"))
    info = page.locator("[data-crop-info]")
    expect(page.get_by_role("button", name="1.91:1")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(info).to_have_text("Crop: 2292 × 1200 px (1.91:1).")
    portrait = page.get_by_role("button", name="4:5")
    portrait.click()
    expect(portrait).to_have_attribute("aria-pressed", "true")
    expect(info).to_have_text("Crop: 960 × 1200 px (0.80:1).")

    # Slide the crop frame to the left edge, over the warm half of the photo.
    face = page.locator(".cropper-face").bounding_box()
    x, y = face["x"] + face["width"] / 2, face["y"] + face["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 400, y, steps=8)
    page.mouse.up()
    expect(info).to_have_text("Crop: 960 × 1200 px (0.80:1).")
    assert page.locator(".cropper-crop-box").bounding_box()["x"] < face["x"]
    ui.assert_fits()

    caption = "Golden hour at the harbour 🌅⛵️\nSee you there! #sunset #harbour #bay"
    alt_text = "Boats in a harbour at sunset"
    when = local_at(1, 9, 30)
    ui.fill_post(caption=caption, alt_text=alt_text, when=when)
    expect(page.locator("[data-caption-help]")).to_contain_text("3 / 30 hashtags")
    ui.shot("add")
    page.get_by_role("button", name="Schedule post").click()

    ui.expect_path("/")
    expect(ui.flash()).to_contain_text("New post scheduled")
    tile = ui.tile(alt_text)
    expect(tile.locator("time")).to_have_text(shown(when))
    expect(tile.locator("time")).to_contain_text("09:30 P")  # PST or PDT
    expect(tile.locator("[data-status-text]")).to_have_text("Scheduled")
    expect(page.get_by_text("1 upcoming · 0 published")).to_be_visible()
    ui.assert_fits()

    [post] = posts_of(live_app)
    assert post.caption == caption
    assert post.alt_text == alt_text
    assert post.scheduled_at == when
    assert (post.width, post.height) == (960, 1200)
    red, _, blue = mean_color(stored_image(live_app, post).read_bytes())
    assert red > blue + 40, "the upload is not the part of the photo that was chosen"


def long_press_drag(ui, source: Locator, target: Locator) -> None:
    """Press and hold ``source`` past the long-press delay, drag it onto ``target``.

    With the mouse on a desktop; with a finger (CDP touch events) on a phone.
    """
    page = ui.page
    start, end = source.bounding_box(), target.bounding_box()
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 3
    tx, ty = end["x"] + end["width"] * 0.75, end["y"] + end["height"] / 3
    bar = page.locator("[data-reorder-bar]")
    if ui.viewport != "phone":
        page.mouse.move(x, y)
        page.mouse.down()
        # The long press (400 ms) turns on reorder mode while the button is held.
        expect(bar).to_be_visible()
        page.mouse.move(tx, ty, steps=20)
        page.mouse.up()
        return
    cdp = ui.context.new_cdp_session(page)

    def touch(kind: str, px: float, py: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": px, "y": py, "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", x, y)
    expect(bar).to_be_visible()
    steps = 20
    for i in range(1, steps + 1):
        touch("touchMove", x + (tx - x) * i / steps, y + (ty - y) * i / steps)
    touch("touchEnd", tx, ty)
    cdp.detach()


def move_button(ui, alt_text: str, direction: str) -> Locator:
    """A tile's keyboard alternative to dragging: "Move earlier" / "Move later"."""
    name = re.compile(f"^Move {direction}: post of ")
    return ui.tile(alt_text).get_by_role("button", name=name)


def grid_alts(page: Page) -> list[str]:
    return page.locator(".grid > .tile .tile-img").evaluate_all(
        "imgs => imgs.map((img) => img.alt)"
    )


@BOTH_SIZES
def test_reorder_by_long_press_drag_and_by_keyboard(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    photo = landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000)
    times = {
        "Morning": local_at(1, 9, 30),
        "Noon": local_at(1, 12, 0),
        "Evening": local_at(1, 18, 0),
    }
    for name, when in times.items():
        ui.add_post(photo, caption=f"{name} post #day", alt_text=name, when=when)
    latest_first = [shown(times[n]) for n in ("Evening", "Noon", "Morning")]
    # The grid previews the profile: the last post to go out comes first.
    assert grid_alts(page) == ["Evening", "Noon", "Morning"]
    expect(ui.grid_times()).to_have_text(latest_first)
    expect(page.locator("#reorder-hint")).to_be_visible()
    ui.shot("home")

    # Long-press the evening post and drag it to the last place: the dates stay
    # in their places and the posts trade them.
    with page.expect_navigation():  # the new order is saved, then the page reloads
        long_press_drag(ui, ui.tile("Evening"), ui.tile("Morning"))
    assert grid_alts(page) == ["Noon", "Morning", "Evening"]
    expect(ui.grid_times()).to_have_text(latest_first)
    expect(page.locator("[data-reorder-bar]")).to_be_hidden()
    ui.assert_fits()
    by_alt = {p.alt_text: p.scheduled_at for p in posts_of(live_app)}
    assert by_alt == {
        "Noon": times["Evening"],
        "Morning": times["Noon"],
        "Evening": times["Morning"],
    }

    # And back with the keyboard: "Move later" twice on the evening post. After
    # each move the page reloads with focus on the same button, or on the other
    # one once the post is first and cannot go later.
    steps = (
        (["Noon", "Evening", "Morning"], "later"),
        (["Evening", "Noon", "Morning"], "earlier"),
    )
    for expected, focused in steps:
        move_button(ui, "Evening", "later").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert grid_alts(page) == expected
        expect(move_button(ui, "Evening", focused)).to_be_focused()
    expect(ui.grid_times()).to_have_text(latest_first)
    by_alt = {p.alt_text: p.scheduled_at for p in posts_of(live_app)}
    assert by_alt == times
    # The first tile cannot go later, the last cannot go earlier.
    expect(move_button(ui, "Evening", "later")).to_be_disabled()
    expect(move_button(ui, "Morning", "earlier")).to_be_disabled()


@BOTH_SIZES
def test_edit_caption_and_date_then_remove_a_post(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    photo = landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000)
    ui.add_post(photo, caption="First #one", alt_text="First", when=local_at(1, 9, 30))
    ui.add_post(photo, caption="Second", alt_text="Second", when=local_at(1, 12, 0))

    ui.open_post("First")
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit post")
    expect(page.locator(".post-status")).to_contain_text(
        f"Scheduled for {shown(local_at(1, 9, 30))}"
    )
    expect(page.get_by_label("Caption")).to_have_value("First #one")
    expect(page.get_by_label("Publish at")).to_have_value(
        input_value(local_at(1, 9, 30))
    )
    ui.shot("edit")
    new_when = local_at(2, 10, 15)
    ui.fill_post(caption="First, edited ✨ #one #two", when=new_when)
    page.get_by_role("button", name="Save changes").click()
    ui.expect_path("/")
    expect(ui.flash()).to_contain_text("Post updated")
    # Now the last to go out, so first on the grid.
    expect(ui.grid_times()).to_have_text([shown(new_when), shown(local_at(1, 12, 0))])
    assert grid_alts(page) == ["First", "Second"]
    first = next(p for p in posts_of(live_app) if p.alt_text == "First")
    assert first.caption == "First, edited ✨ #one #two"
    assert first.scheduled_at == new_when

    ui.open_post("Second")
    second = next(p for p in posts_of(live_app) if p.alt_text == "Second")
    image = stored_image(live_app, second)
    assert image.exists()
    # Cancelling the confirmation keeps the post.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Remove post").click()
    expect(page.get_by_role("button", name="Remove post")).to_be_enabled()
    assert len(posts_of(live_app)) == 2
    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Remove post").click()
    ui.expect_path("/")
    expect(ui.flash()).to_contain_text("Post removed")
    assert messages and messages[0].startswith("Remove this post?")
    assert grid_alts(page) == ["First"]
    assert [p.alt_text for p in posts_of(live_app)] == ["First"]
    assert not image.exists()
    ui.assert_fits()
