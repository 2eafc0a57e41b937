"""A carousel of a photo and a video on a phone (390 x 844): the picker takes
both, the filmstrip shows the video's poster frame with a play mark, the
videos' fit is chosen, the video is converted in the background, and Post now
publishes one carousel whose second item is a video."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from PIL import ImageDraw
from playwright.sync_api import expect

from videoclips import make_clip

from .support import local_at

pytestmark = pytest.mark.browser
PUBLISH_TIMEOUT_MS = 60_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _tolerate_a_stale_shared_install(ui):
    """As in test_carousel.py: the shared node_modules may lack long-press-event."""
    vendor = ROOT / "node_modules/long-press-event/dist/long-press-event.min.js"
    if not vendor.exists():
        ui.problems.expect_http_error(ui.url("/vendor/long-press-event.min.js"), 404)


def photo(path: Path) -> Path:
    image = Image.new("RGB", (1080, 1350), (40, 70, 210))
    draw = ImageDraw.Draw(image)
    for x in range(0, 1080, 60):
        draw.line([x, 0, x, 1350], fill=(70, 100, 240))
    image.save(path, "JPEG", quality=90)
    return path


@pytest.mark.parametrize("viewport", ["phone"])
def test_a_carousel_of_a_photo_and_a_video_posts_now(ui, live_app, world, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    # A landscape phone-style clip (VP9 WebM, which Chromium previews).
    clip = make_clip(
        tmp_path / "harbour.webm",
        codec="libvpx-vp9",
        fmt="webm",
        audio=None,
        size=(320, 180),
        seconds=3.2,
    )
    page.get_by_label("Media").set_input_files(
        [str(photo(tmp_path / "a.jpg")), str(clip)]
    )
    strip = page.get_by_role("list", name="Images in order")
    expect(strip.get_by_role("listitem")).to_have_count(2)
    expect(page.locator("[data-media-note]")).to_contain_text(
        "1 photo and 1 video: a carousel"
    )
    video_tile = strip.locator(".film-item").nth(1)
    expect(video_tile.locator("[data-film-play]")).to_be_visible()
    # The poster frame was drawn from the video.
    expect(video_tile.locator("img")).to_have_attribute(
        "src", re.compile("^data:image/jpeg")
    )
    page.get_by_label("Alt text for image 1").fill("Blue stripes")
    strip.get_by_role("button", name="Video 2", exact=True).click()
    expect(page.locator("[data-editor-title]")).to_have_text("Video 2 of 2")
    expect(page.locator("[data-crop-info]")).to_contain_text("sent as it is")
    expect(page.get_by_role("button", name="Tag people")).to_be_disabled()
    expect(page.get_by_label("Alt text for image 2")).to_be_hidden()
    page.get_by_label("Crop the middle (fills the frame)").check()
    page.get_by_label("Caption").fill("Harbour, still and moving")
    page.get_by_label("Publish at").fill(local_at(2, 9, 0).strftime("%Y-%m-%dT%H:%M"))
    ui.assert_fits()
    ui.shot("carousel-video-add")
    for button in strip.locator(".film-btn").all():  # 44 px touch targets
        box = button.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44, button.get_attribute(
            "aria-label"
        )
    page.get_by_role("button", name="Schedule post").click()

    ui.expect_path("/")
    tile = ui.tile("Blue stripes")
    expect(tile.locator(".tile-type-carousel")).to_be_visible()
    ui.assert_fits()
    ui.shot("carousel-video-grid")

    ui.open_post("Blue stripes")
    page.get_by_role("button", name="Post now").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Post", timeout=PUBLISH_TIMEOUT_MS
    )
    expect(page.locator("[data-publish-steps] .step-done").first).to_be_visible()
    ui.assert_fits()
    ui.shot("carousel-video-published")

    [live] = world.published()
    assert live["media_type"] == "CAROUSEL_ALBUM"
    assert live["caption"] == "Harbour, still and moving"
    assert [c["media_type"] for c in live["children"]] == ["IMAGE", "VIDEO"]
    video = live["children"][1]["video"]
    assert video["problem"] is None and video["codec"] == "h264"
    assert abs(video["width"] / video["height"] - 0.8) < 0.02  # the photo's 4:5
