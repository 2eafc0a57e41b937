"""Journey 8: a carousel from three differently shaped photos: one crop shape for
all, reordered, a person tagged, a collaborator and a first comment, then Post
now; Instagram (the simulator) gets the images in that order, once, and the
comment once.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from PIL import Image
from PIL import ImageDraw
from playwright.sync_api import expect

from models import Post
from models import User
from models import db

from .support import BOTH_SIZES
from .support import local_at
from .support import posts_of

pytestmark = pytest.mark.browser
PUBLISH_TIMEOUT_MS = 30_000
ROOT = Path(__file__).resolve().parents[2]
BLUE, RED, GREEN = (40, 70, 210), (210, 50, 40), (40, 170, 60)


@pytest.fixture(autouse=True)
def _tolerate_a_stale_shared_install(ui):
    """This branch's package.json still lists long-press-event, which the shared
    node_modules of this machine no longer has: the home page's request for it
    answers 404. Tolerate only that, and only while the file is missing."""
    vendor = ROOT / "node_modules/long-press-event/dist/long-press-event.min.js"
    if not vendor.exists():
        ui.problems.expect_http_error(ui.url("/vendor/long-press-event.min.js"), 404)


def photo(path: Path, size: tuple[int, int], colour) -> Path:
    """A photo of one colour with some detail (JPEG needs something to encode)."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 60):
        draw.line([x, 0, x, size[1]], fill=tuple(min(255, c + 30) for c in colour))
    image.save(path, "JPEG", quality=90)
    return path


def mean(path: Path):
    with Image.open(path) as image:
        return image.convert("RGB").resize((1, 1)).getpixel((0, 0))


def closest(colour) -> tuple[int, int, int]:
    return min(
        (BLUE, RED, GREEN),
        key=lambda c: sum((a - b) ** 2 for a, b in zip(c, colour, strict=True)),
    )


@BOTH_SIZES
def test_build_reorder_tag_and_publish_a_carousel(ui, live_app, world, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    files = [
        photo(tmp_path / "red-wide.jpg", (2000, 1000), RED),
        photo(tmp_path / "green-tall.jpg", (1000, 1400), GREEN),
        photo(tmp_path / "blue-square.jpg", (1200, 1200), BLUE),
    ]
    page.get_by_label("Media").set_input_files([str(f) for f in files])
    strip = page.get_by_role("list", name="Images in order")
    expect(strip.get_by_role("listitem")).to_have_count(3)
    expect(page.locator("[data-media-note]")).to_contain_text("3 images: a carousel")
    # The wide first photo starts the carousel at 1.91:1; make every image square.
    expect(page.get_by_role("button", name="1.91:1")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_role("button", name="1:1", exact=True).click()
    expect(page.locator("[data-crop-info]")).to_have_text(
        "Crop: 1000 × 1000 px (1.00:1)."
    )
    expect(page.locator(".crop-grid-frame")).to_be_visible()  # the grid's 3:4 tile
    ui.shot("carousel-crop")

    # Reorder: blue first, by dragging it (desktop) or with its Earlier button
    # (touch and keyboard); then red later and back, with the buttons.
    if ui.viewport == "desktop":
        items = strip.locator(".film-item")
        items.nth(2).locator("[data-film-select]").drag_to(items.nth(0))
    else:
        page.get_by_role("button", name="Move image 3 earlier").click()
        page.get_by_role("button", name="Move image 2 earlier").click()
    # The image being edited (red, the first) moved along to second place.
    expect(strip.locator(".film-item").nth(1)).to_have_class(re.compile("is-selected"))
    page.get_by_role("button", name="Move image 2 later").click()
    page.get_by_role("button", name="Move image 3 earlier").click()
    # Now blue, red, green. Each image gets its alt text.
    for number, name in enumerate(("Blue", "Red", "Green"), 1):
        strip.get_by_role("button", name=f"Image {number}", exact=True).click()
        expect(page.get_by_label(f"Alt text for image {number}")).to_be_visible()
        page.get_by_label(f"Alt text for image {number}").fill(f"{name} square")

    # Tag someone on the first image: tap the photo, type the username.
    strip.get_by_role("button", name="Image 1", exact=True).click()
    page.get_by_role("button", name="Tag people").click()
    picture = page.locator("[data-tag-image]")
    expect(picture).to_be_visible()
    box = picture.bounding_box()
    picture.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.6})
    username = page.get_by_label("Username of person 1 on image 1")
    expect(username).to_be_focused()
    username.fill("@jane.doe")
    expect(page.locator(".tag-pin")).to_have_text("@jane.doe")
    ui.assert_fits()

    page.get_by_label("Caption").fill("Three squares #colour")
    page.get_by_label("Collaborators").fill("@chef.marco")
    comment = "Prints in the shop 🌿 #art"
    page.get_by_label("First comment").fill(comment)
    expect(page.locator("[data-counter-help]")).to_contain_text("1 / 30 hashtags")
    page.get_by_label("Publish at").fill(local_at(2, 9, 0).strftime("%Y-%m-%dT%H:%M"))
    ui.shot("carousel-add")
    for button in strip.locator(".film-btn").all():  # 44 px touch targets
        box = button.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, button.get_attribute(
            "aria-label"
        )
    page.get_by_role("button", name="Schedule post").click()

    ui.expect_path("/")
    tile = ui.tile("Blue square")
    expect(tile.locator(".tile-type-carousel")).to_have_attribute(
        "aria-label", "Carousel of 3 images"
    )
    ui.assert_fits()
    ui.shot("carousel-grid")

    [post] = posts_of(live_app)
    with live_app.app_context():
        post = db.session.get(Post, post.id)
        owner = db.session.get(User, post.user_id)
        store = live_app.extensions["media_store"]
        paths = [store.path(owner.ig_account_id, m.filename) for m in post.media]
        assert [m.alt_text for m in post.media] == [
            "Blue square",
            "Red square",
            "Green square",
        ]
        assert all(m.width == m.height for m in post.media)  # one shape: 1:1
        (tag,) = post.media[0].user_tags
        assert tag["username"] == "jane.doe" and 0.15 < tag["x"] < 0.35
        assert post.collaborators == ["chef.marco"]
        assert post.first_comment == comment
    assert [closest(mean(p)) for p in paths] == [BLUE, RED, GREEN]
    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]

    ui.open_post("Blue square")
    page.get_by_role("button", name="Post now").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Post", timeout=PUBLISH_TIMEOUT_MS
    )
    images = page.get_by_role("list", name="Carousel of 3 images, in order")
    expect(images.get_by_role("img")).to_have_count(3)
    expect(images.get_by_role("img").first).to_have_attribute("alt", "Blue square")
    expect(page.get_by_text("@jane.doe")).to_be_visible()
    expect(page.locator(".comment-text")).to_have_text(comment)
    steps = page.locator("[data-publish-steps] .publish-step")
    expect(steps).to_have_count(6)
    expect(page.locator("[data-publish-steps] .step-done")).to_have_count(
        6, timeout=PUBLISH_TIMEOUT_MS
    )
    ui.assert_fits()
    ui.shot("carousel-published")

    [live] = world.published()
    assert live["media_type"] == "CAROUSEL_ALBUM"
    assert [c["image_sha256"] for c in live["children"]] == shas
    assert live["children"][0]["user_tags"][0]["username"] == "jane.doe"
    assert live["collaborators"] == ["chef.marco"]
    assert [c["text"] for c in world.comments()] == [comment]


def test_edit_a_carousel_keeps_untouched_images_and_adds_a_new_one(
    ui, live_app, world, tmp_path
):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    squares = [
        photo(tmp_path / f"{n}.jpg", (1200, 1200), c)
        for n, c in enumerate((RED, GREEN, BLUE))
    ]
    page.get_by_label("Media").set_input_files([str(p) for p in squares[:2]])
    page.get_by_label("Alt text for image 1").fill("Red")
    page.get_by_label("Caption").fill("Edit me")
    page.get_by_label("Publish at").fill(local_at(2, 9, 0).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule post").click()
    ui.expect_path("/")
    [before] = posts_of(live_app)
    with live_app.app_context():
        kept = [m.filename for m in db.session.get(Post, before.id).media]

    ui.open_post("Red")
    strip = page.get_by_role("list", name="Images in order")
    expect(strip.get_by_role("listitem")).to_have_count(2)
    expect(page.get_by_label("Alt text for image 1")).to_have_value("Red")
    page.get_by_role("button", name="Remove image 2").click()
    page.get_by_label("Media").set_input_files(str(squares[2]))
    expect(strip.get_by_role("listitem")).to_have_count(2)
    strip.get_by_role("button", name="Image 2", exact=True).click()
    page.get_by_label("Alt text for image 2").fill("Blue")
    page.get_by_role("button", name="Save changes").click()
    ui.expect_path("/")
    [after] = posts_of(live_app)
    with live_app.app_context():
        media = db.session.get(Post, after.id).media
        assert [m.alt_text for m in media] == ["Red", "Blue"]
        # The untouched first image was kept as it was, not uploaded again.
        assert media[0].filename == kept[0]
        assert media[1].filename not in kept
        store = live_app.extensions["media_store"]
        owner = db.session.get(User, after.user_id)
        assert not store.path(owner.ig_account_id, kept[1]).exists()
