"""Journeys 2 and 4: create a post with the cropper (and its problems shown at
their fields), edit and remove posts. Journey 3, reordering, is test_reorder.py.
"""

from __future__ import annotations

import re

import pytest
from PIL import Image
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


def grid_alts(page: Page) -> list[str]:
    return page.locator(".grid > .tile .tile-img").evaluate_all(
        "imgs => imgs.map((img) => img.alt)"
    )


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
    # Removing asks first, in the page's own dialog; Cancel keeps the post.
    page.get_by_role("button", name="Remove post").click()
    dialog = page.get_by_role("dialog", name="Remove this post?")
    expect(dialog).to_contain_text("Its image and caption are deleted from Ospost.")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    ui.shot("edit-confirm-remove", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("button", name="Remove post")).to_be_focused()
    assert len(posts_of(live_app)) == 2
    page.get_by_role("button", name="Remove post").click()
    dialog.get_by_role("button", name="Remove post").click()
    ui.expect_path("/")
    expect(ui.flash()).to_contain_text("Post removed")
    assert grid_alts(page) == ["First"]
    assert [p.alt_text for p in posts_of(live_app)] == ["First"]
    assert not image.exists()
    ui.assert_fits()


@BOTH_SIZES
def test_form_problems_show_at_their_fields_all_at_once(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    # The composer's picker is labelled "Media" (one image or a carousel).
    image, date = (
        page.get_by_label("Media", exact=True),
        page.get_by_label("Publish at"),
    )

    # Nothing filled in: the image and the date are pointed out together,
    # each at its field, and the first gets the focus.
    page.get_by_role("button", name="Schedule post").click()
    expect(page.locator("[data-form-alerts]")).to_contain_text(
        "2 fields need your attention: Media, Publish at."
    )
    for field, message in (
        (image, "Choose an image to post."),
        (date, "Choose when to publish the post."),
    ):
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    expect(image).to_be_focused()
    ui.shot("add-errors")

    # Choosing an image clears its error; a time that has passed is pointed
    # out as soon as it is entered, before anything is sent.
    ui.pick_image(landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000))
    expect(page.locator("#image-error")).to_be_hidden()
    ui.fill_post(when=local_at(-1, 9, 0))
    expect(date).to_have_accessible_description(re.compile("This time has passed"))
    expect(date).to_have_attribute("aria-invalid", "true")

    # What only the server knows comes back at the field too: past the
    # 50-day window.
    ui.fill_post(caption="Too far ahead", when=local_at(60, 9, 0))
    expect(date).not_to_have_attribute("aria-invalid", "true")
    ui.problems.expect_http_error(ui.url("/post/add"), 400)
    page.get_by_role("button", name="Schedule post").click()
    expect(date).to_have_accessible_description(re.compile("at most 50 days ahead"))
    expect(date).to_be_focused()
    expect(page.locator("[data-form-alerts]")).to_contain_text("Publish at")
    ui.shot("add-server-error")
    assert posts_of(live_app) == []


def test_leaving_a_changed_form_asks_first(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    asked: list[str] = []

    def stay(dialog):
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    # Untouched, the form lets the person go.
    ui.goto("/post/add")
    ui.nav("Home")
    assert asked == []

    ui.goto("/post/add")
    caption = page.get_by_label("Caption")
    caption.click()
    caption.fill("Half a thought")
    links = page.get_by_role("navigation", name="Main")
    links.get_by_role("link", name="Home", exact=True).click()
    page.wait_for_timeout(300)
    assert asked == ["beforeunload"]
    expect(page).to_have_url(ui.url("/post/add"))
    expect(caption).to_have_value("Half a thought")

    # Once saved, leaving asks nothing.
    ui.pick_image(landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000))
    ui.fill_post(alt_text="Saved", when=local_at(1, 9, 0))
    page.get_by_role("button", name="Schedule post").click()
    ui.expect_path("/")
    assert asked == ["beforeunload"]
    assert [p.alt_text for p in posts_of(live_app)] == ["Saved"]


@BOTH_SIZES
def test_a_transparent_png_is_posted_on_the_colour_shown(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    # A logo: see-through on the left, solid blue on the right.
    logo = Image.new("RGBA", (1200, 1500), (0, 0, 0, 0))
    logo.paste((20, 60, 200, 255), (600, 0, 1200, 1500))
    logo.save(tmp_path / "logo.png")
    ui.pick_image(tmp_path / "logo.png")
    colour = page.get_by_label("Background for transparent areas")
    expect(colour).to_be_visible()
    expect(colour).to_have_value("#ffffff")
    colour.fill("#ff6600")
    # The preview shows the colour behind the see-through part, as posted.
    expect(page.locator(".cropper-view-box")).to_have_css(
        "background-color", "rgb(255, 102, 0)"
    )
    ui.fill_post(caption="Our logo", alt_text="Logo", when=local_at(1, 9, 0))
    ui.shot("add-transparent")
    page.get_by_role("button", name="Schedule post").click()
    ui.expect_path("/")
    [post] = posts_of(live_app)
    with Image.open(stored_image(live_app, post)) as stored:
        rgb = stored.convert("RGB")
    left = rgb.getpixel((rgb.width // 5, rgb.height // 2))
    right = rgb.getpixel((rgb.width * 4 // 5, rgb.height // 2))
    for seen, want in ((left, (255, 102, 0)), (right, (20, 60, 200))):
        assert max(abs(a - b) for a, b in zip(seen, want, strict=True)) <= 6, seen
