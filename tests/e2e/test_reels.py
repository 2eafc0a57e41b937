"""Reels and Stories in the browser: upload a Reel (progress bar, 9:16
preview), pick its cover frame with the slider, share it to feed, watch the
conversion on the post page, see it on the grid, Post now; and a Story from a
photo, with its safe areas drawn, in the row of circles above the grid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from support import wait_for
from videoclips import make_clip

from .support import BOTH_SIZES
from .support import local_at

pytestmark = pytest.mark.browser
PUBLISH_TIMEOUT_MS = 30_000
CONVERT_TIMEOUT_MS = 60_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _tolerate_a_stale_shared_install(ui):
    """As in test_carousel.py: the shared node_modules may lack long-press-event."""
    vendor = ROOT / "node_modules/long-press-event/dist/long-press-event.min.js"
    if not vendor.exists():
        ui.problems.expect_http_error(ui.url("/vendor/long-press-event.min.js"), 404)


def post_now(page) -> None:
    page.get_by_role("button", name="Post now").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()
    main = page.locator("#main")
    expect(main.get_by_role("link", name="View on Instagram")).to_be_visible(
        timeout=PUBLISH_TIMEOUT_MS
    )


@BOTH_SIZES
def test_upload_a_reel_pick_its_cover_share_it_and_post_now(
    ui, live_app, world, tmp_path
):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    page.get_by_role("link", name="Reel", exact=True).click()
    ui.expect_path("/post/add/reel")
    expect(page.get_by_role("link", name="Reel", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    # A landscape phone-style clip (VP9 WebM, which Chromium previews).
    clip = make_clip(
        tmp_path / "harbour.webm",
        codec="libvpx-vp9",
        fmt="webm",
        audio=None,
        size=(320, 180),
        seconds=3.2,
    )
    page.get_by_label("Video", exact=True).set_input_files(str(clip))
    expect(page.locator("[data-preview-video]")).to_be_visible()
    slider = page.get_by_label(re.compile("^Cover frame"))
    expect(slider).to_be_enabled()
    slider.fill("1500")
    expect(page.locator("[data-offset-label]")).to_have_text("1.5 s")
    page.get_by_label("Caption").fill("Harbour at dusk #reel")
    expect(page.get_by_label("Also share to feed")).to_be_checked()
    page.get_by_label("Crop the middle (fills the screen)").check()
    page.get_by_label("Publish at").fill(local_at(2, 9, 0).strftime("%Y-%m-%dT%H:%M"))
    ui.assert_fits()
    ui.shot("reel-add")
    page.get_by_role("button", name="Schedule Reel").click()

    expect(page).to_have_url(re.compile(r"/post/\d+/edit$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Reel")
    # The page follows the conversion and shows the result when it is done.
    expect(page.get_by_text(re.compile(r"^Ready for Instagram"))).to_be_visible(
        timeout=CONVERT_TIMEOUT_MS
    )
    expect(page.get_by_text("Cropped to 9:16.")).to_be_visible()
    # The page's form starts from the saved cover frame.
    expect(page.locator("[data-offset-label]")).to_have_text(re.compile(r"^1\.\d s$"))
    ui.assert_fits()
    ui.shot("reel-post-page")
    post_url = page.url

    ui.goto("/")
    expect(page.locator(".tile .tile-type-reel")).to_have_count(1)
    ui.shot("reel-grid")

    page.goto(post_url)
    post_now(page)
    ui.shot("reel-published")
    [live] = world.published()
    assert (live["media_product_type"], live["media_type"]) == ("REELS", "VIDEO")
    assert live["caption"] == "Harbour at dusk #reel"
    video = live["video"]
    assert video["share_to_feed"] is True
    assert 1000 <= video["thumb_offset"] <= 1600
    assert video["problem"] is None and video["codec"] == "h264"
    assert abs(video["width"] / video["height"] - 9 / 16) < 0.02


@BOTH_SIZES
def test_a_story_from_a_photo(ui, live_app, world, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add/story")
    photo = tmp_path / "beach.jpg"
    Image.new("RGB", (1080, 1920), (30, 120, 190)).save(photo, "JPEG", quality=90)
    page.get_by_label("Photo or video").set_input_files(str(photo))
    expect(page.locator("[data-preview-photo]")).to_be_visible()
    expect(page.locator(".safe-top")).to_be_visible()
    expect(page.locator(".safe-bottom")).to_be_visible()
    expect(page.get_by_label("Caption")).to_have_count(0)
    page.get_by_label("Publish at").fill(local_at(1, 18, 30).strftime("%Y-%m-%dT%H:%M"))
    ui.assert_fits()
    ui.shot("story-add")
    page.get_by_role("button", name="Schedule Story").click()
    expect(page).to_have_url(re.compile(r"/post/\d+/edit$"))
    post_url = page.url

    ui.goto("/")
    strip = page.get_by_role("region", name="Stories and Reels")
    expect(strip.locator(".story-item")).to_have_count(1)
    expect(strip.locator(".story-kind")).to_have_text("Story")
    expect(strip.locator("time")).to_be_visible()
    expect(page.locator(".tile")).to_have_count(0)  # not on the grid
    ui.shot("story-strip")

    page.goto(post_url)
    post_now(page)
    [live] = world.published()
    assert (live["media_product_type"], live["media_type"]) == ("STORY", "IMAGE")
    assert (live["width"], live["height"]) == (1080, 1920)


def test_an_upload_can_be_cancelled_and_saves_nothing(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add/reel")
    clip = make_clip(
        tmp_path / "c.webm", codec="libvpx-vp9", fmt="webm", audio=None, seconds=3.2
    )
    page.get_by_label("Video", exact=True).set_input_files(str(clip))
    page.get_by_label("Publish at").fill(local_at(2, 9, 0).strftime("%Y-%m-%dT%H:%M"))
    held = []
    # The server never answers, as on a slow connection: the upload stays open.
    page.route("**/post/add/reel", lambda route: held.append(route))
    page.get_by_role("button", name="Schedule Reel").click()
    expect(page.get_by_role("progressbar", name="Upload progress")).to_be_visible()
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Upload cancelled. Nothing was saved."
    )
    expect(page.get_by_role("button", name="Schedule Reel")).to_be_enabled()
    expect(page.get_by_role("button", name="Cancel upload")).to_be_hidden()
    ui.shot("reel-upload-cancelled")
    with live_app.app_context():
        from models import Post
        from models import db

        assert db.session.query(Post).count() == 0


@pytest.mark.parametrize("viewport", ["phone"])
def test_the_post_page_shows_storage_retries_then_the_give_up(
    ui, live_app, tmp_path, monkeypatch
):
    """A conversion whose media storage fails says so while it is retried
    (the page's polling keeps the sentence), and when it gives up, the video
    and the post fail with the reason."""
    import errno
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    from sqlalchemy import update

    from models import db
    from ospost.blobstore.local import LocalBlobs
    from ospost.reel_models import PostVideo
    from ospost.reels import conversions

    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add/reel")
    clip = make_clip(tmp_path / "c.webm", codec="libvpx-vp9", fmt="webm", audio=None,
                     size=(320, 180), seconds=3.2)  # fmt: skip
    page.get_by_label("Video", exact=True).set_input_files(str(clip))
    expect(page.get_by_label(re.compile("^Cover frame"))).to_be_enabled()
    page.get_by_label("Publish at").fill(local_at(2, 9, 0).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule Reel").click()
    expect(page.get_by_text(re.compile(r"^Ready for Instagram"))).to_be_visible(
        timeout=CONVERT_TIMEOUT_MS
    )
    post_id = int(re.search(r"/post/(\d+)/edit$", page.url)[1])

    def set_video(**values):
        with live_app.app_context():
            db.session.execute(update(PostVideo.__table__).values(**values))
            db.session.commit()

    retry = (
        "Ospost's media storage did not answer; converting again shortly (try 8 of 8)."
    )
    # As a seventh failed try leaves it: its upload kept, given back until
    # its retry time.
    store = live_app.extensions["media_store"]
    source = "4" * 32 + ".upload"
    store.blobs.put(store.key("17841400000000001", source), clip.read_bytes())
    set_video(status="converting", progress=0.4, error=retry, job_owner=None,
              source=source, filename=None, storage_failures=7,
              job_until=datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    page.reload()
    text = page.locator("[data-video-text]")
    expect(text).to_have_text(f"Converting for Instagram… 40%. {retry}")
    page.wait_for_timeout(2000)  # a poll later, the sentence is still there
    expect(text).to_have_text(f"Converting for Instagram… 40%. {retry}")
    ui.assert_fits()
    ui.shot("reel-storage-retry")

    # The eighth try: the disk is full when the MP4 is put into uploads/.
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalBlobs, "put_file", full)
    set_video(job_until=None)
    conversions.run(post_id)
    gave_up = (
        "Ospost's media storage kept failing (8 tries), so the video could not "
        "be kept. Upload the video again."
    )
    # The polling page notices and reloads itself: the post failed too.
    expect(text).to_have_text(f"The video could not be converted: {gave_up}")
    expect(page.locator("#main").get_by_text("Failed", exact=True)).to_be_visible()
    ui.assert_fits()
    ui.shot("reel-storage-gave-up")


@pytest.mark.parametrize("viewport", ["phone"])
def test_edit_a_saved_reels_caption_and_cover_then_post_now(
    ui, live_app, world, tmp_path
):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add/reel")
    clip = make_clip(
        tmp_path / "pier.webm",
        codec="libvpx-vp9",
        fmt="webm",
        audio=None,
        size=(180, 320),
        seconds=4.2,
    )
    page.get_by_label("Video", exact=True).set_input_files(str(clip))
    page.get_by_label("Caption").fill("First caption")
    page.get_by_label("Publish at").fill(local_at(2, 9, 0).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule Reel").click()
    expect(page).to_have_url(re.compile(r"/post/\d+/edit$"))
    expect(page.get_by_text(re.compile(r"^Ready for Instagram"))).to_be_visible(
        timeout=CONVERT_TIMEOUT_MS
    )
    post_url = page.url

    # The saved Reel's page has the composer's fields, filled in.
    caption = page.get_by_label("Caption")
    expect(caption).to_have_value("First caption")
    expect(page.get_by_label("Replace the video (optional)")).to_be_visible()
    slider = page.get_by_label(re.compile("^Cover frame"))
    expect(slider).to_be_enabled()
    caption.fill("Edited on the phone #reel")
    slider.fill("3000")
    expect(page.locator("[data-offset-label]")).to_have_text("3.0 s")
    ui.assert_fits()
    for name in ("Save changes", "Save as draft"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, name
    ui.shot("reel-edit")
    page.get_by_role("button", name="Save changes").click()
    expect(ui.flash()).to_contain_text("Reel updated")
    expect(page.get_by_label("Caption")).to_have_value("Edited on the phone #reel")
    expect(page.locator("[data-offset-value]")).to_have_value("3000")
    ui.shot("reel-edited")

    page.goto(post_url)
    post_now(page)
    ui.shot("reel-edited-published")
    [live] = world.published()
    assert live["caption"] == "Edited on the phone #reel"
    assert 2900 <= live["video"]["thumb_offset"] <= 3100


@pytest.mark.parametrize("viewport", ["phone"])
def test_save_a_reel_as_a_draft_without_a_time(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add/reel")
    clip = make_clip(
        tmp_path / "d.webm", codec="libvpx-vp9", fmt="webm", audio=None, seconds=3.2
    )
    page.get_by_label("Video", exact=True).set_input_files(str(clip))
    page.get_by_label("Caption").fill("Reel for later")
    save = page.get_by_role("button", name="Save draft")
    box = save.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44
    ui.assert_fits()
    ui.shot("reel-add-draft")
    save.click()  # no time needed
    expect(page).to_have_url(re.compile(r"/calendar#drafts$"))
    expect(page.locator("#drafts")).to_contain_text("Reel for later")
    ui.shot("reel-draft-on-calendar")

    # The conversion replaces the poster when it ends: let it end first, so
    # the next pages do not ask for the poster it replaced.
    def converted():
        from models import db
        from ospost.reel_models import PostVideo

        with live_app.app_context():
            return db.session.query(PostVideo).one().status != "converting"

    wait_for(converted, timeout=CONVERT_TIMEOUT_MS / 1000)
    ui.goto("/")  # and on the home page's Drafts shelf, opened from there
    page.get_by_role("link", name="Open draft: Reel for later").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reel")
    expect(page.get_by_role("button", name="Schedule Reel")).to_be_visible()
    expect(page.get_by_label("Caption")).to_have_value("Reel for later")
