"""Journeys: bulk upload of 10 photos (one bad file among them) and "Add all
to queue"; a draft saved with no date on the home page's Drafts shelf, then
Schedule and Undo; "Add to queue" on the New post form; "Choose from library".
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from models import now_utc

from .support import BOTH_SIZES
from .support import BROWSER_TZ
from .support import landscape_jpeg
from .support import posts_of
from .support import shown
from .test_calendar import add_slots

pytestmark = pytest.mark.browser
ZONE = ZoneInfo(BROWSER_TZ)
EVERY_DAY = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def daily_slots(hours: tuple[int, ...], count: int) -> list[datetime]:
    """The next ``count`` of the daily slots at ``hours`` (browser's clock)."""
    now = now_utc().astimezone(ZONE) + timedelta(minutes=1)
    found, day = [], now.date()
    while len(found) < count:
        for hour in hours:
            when = datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)
            if when > now and len(found) < count:
                found.append(when)
        day += timedelta(days=1)
    return found


def set_slots(ui) -> None:
    ui.nav("Account")
    add_slots(ui, EVERY_DAY, "10:00")
    add_slots(ui, EVERY_DAY, "16:00")


@BOTH_SIZES
def test_bulk_upload_ten_photos_then_add_all_to_queue(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    set_slots(ui)
    photos = [
        landscape_jpeg(tmp_path / f"IMG_{n:04}.jpg", 1600 + 40 * n, 1200)
        for n in range(10)
    ]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photos[0].read_bytes()[:3000])

    ui.goto("/post/add")
    page.get_by_role("link", name="Bulk upload").click()
    ui.expect_path("/bulk")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bulk upload")
    page.get_by_label("Square 1:1").check()
    ui.problems.expect_http_error(ui.url("/bulk/upload"), 400)
    page.get_by_label("Photos").set_input_files([*map(str, photos[:5]), str(broken)])
    page.get_by_label("Photos").set_input_files(list(map(str, photos[5:])))
    summary = page.locator("[data-bulk-summary]")
    expect(summary).to_have_text("10 of 11 uploaded · 1 could not be.", timeout=30_000)
    bad = page.locator(".bulk-row").filter(has_text="broken.jpg")
    expect(bad).to_contain_text(
        "Not uploaded: This image is damaged or incomplete and can't be read."
    )
    expect(page.locator(".bulk-row.is-done img")).to_have_count(10)
    drafts = posts_of(live_app)
    assert len(drafts) == 10
    assert {(p.status, p.scheduled_at) for p in drafts} == {("draft", None)}
    assert {(p.width, p.height) for p in drafts} == {(1200, 1200)}
    ui.assert_fits()
    ui.shot("bulk-uploaded")

    page.get_by_role("button", name="Add all to queue").click()
    slots = daily_slots((10, 16), 10)
    toast = ui.toast()
    expect(toast).to_contain_text(
        f"Added 10 posts to the queue, from {shown(slots[0])} to {shown(slots[-1])}."
    )
    expect(page.locator(".bulk-row.is-done")).to_have_count(10)
    expect(page.locator(".bulk-row").first).to_contain_text(
        f"Scheduled for {shown(slots[0])}"
    )
    queued = posts_of(live_app)
    assert [p.status for p in queued] == ["scheduled"] * 10
    assert sorted(p.scheduled_at for p in queued) == slots
    ui.assert_fits()
    ui.shot("bulk-queued")
    # They are on the grid now.
    ui.nav("Home")
    expect(page.locator(".grid .tile")).to_have_count(10)


@BOTH_SIZES
def test_draft_with_no_date_on_the_home_shelf_then_schedule(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    set_slots(ui)
    first, second = daily_slots((10, 16), 2)

    # Save draft: an image and a caption, no date.
    ui.goto("/post/add")
    ui.pick_image(landscape_jpeg(tmp_path / "harbour.jpg", 1600, 1000))
    ui.fill_post(caption="Harbour at dawn\nsecond line", alt_text="Harbour")
    page.get_by_role("button", name="Save draft").click()
    ui.expect_path("/calendar#drafts")
    [draft] = posts_of(live_app)
    assert (draft.status, draft.scheduled_at) == ("draft", None)

    # The home page shows it on the Drafts shelf, above the grid.
    ui.nav("Home")
    shelf = page.get_by_role("region", name="Drafts")
    card = shelf.locator("[data-shelf-card]")
    expect(card).to_contain_text("Harbour at dawn")
    expect(card.locator("img.shelf-thumb")).to_be_visible()
    ui.assert_fits()
    ui.shot("home-drafts-shelf")

    # Schedule: the next free slot; the grid gets the post, Undo takes it back.
    card.get_by_role("button", name="Schedule Harbour at dawn at the next").click()
    toast = ui.toast()
    expect(toast).to_contain_text(f"Scheduled for {shown(first)}.")
    [post] = posts_of(live_app)
    assert (post.status, post.scheduled_at) == ("scheduled", first)
    expect(page.locator("[data-draft-shelf]")).to_have_count(0)
    expect(page.locator(".grid .tile")).to_have_count(1)
    ui.shot("home-draft-scheduled")
    toast.get_by_role("button", name="Undo").click()
    expect(toast).to_contain_text("It is a draft again.")
    [post] = posts_of(live_app)
    assert post.status == "draft"
    expect(shelf.locator("[data-shelf-card]")).to_contain_text("Harbour at dawn")
    expect(page.locator(".grid .tile")).to_have_count(0)

    # Add to queue on the New post form: straight to the next free slot.
    ui.goto("/post/add")
    ui.pick_image(landscape_jpeg(tmp_path / "market.jpg", 1800, 1000))
    ui.fill_post(caption="Market day", alt_text="Market")
    page.get_by_role("button", name="Add to queue").click()
    ui.expect_path("/")
    expect(ui.flash().first).to_contain_text(f"Added to the queue: {shown(first)}")
    market = [p for p in posts_of(live_app) if p.caption == "Market day"]
    assert market[0].scheduled_at == first
    # The draft still waits on the shelf, and can take the slot after.
    expect(page.get_by_role("region", name="Drafts")).to_contain_text("Harbour")
    assert second > first


def test_choose_from_library_reuses_an_uploaded_image(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    ui.pick_image(landscape_jpeg(tmp_path / "harbour.jpg", 1600, 1000))
    ui.fill_post(caption="First use")
    page.get_by_role("button", name="Save draft").click()
    ui.expect_path("/calendar#drafts")

    ui.goto("/post/add")
    page.get_by_role("button", name="Choose from library").click()
    dialog = page.get_by_role("dialog", name="Your media library")
    expect(dialog.get_by_role("button", name="Use image")).to_have_count(1)
    ui.shot("library-picker")
    dialog.get_by_role("button", name="Use image").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".cropper-container")).to_be_visible()
    ui.fill_post(caption="Second use")
    page.get_by_role("button", name="Save draft").click()
    ui.expect_path("/calendar#drafts")
    first, second = sorted(posts_of(live_app), key=lambda p: p.id)
    assert second.filename == first.filename  # the same file, shared
