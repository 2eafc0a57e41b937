"""Journey: posting slots on the account page, posts added to the queue from
the calendar, a post dragged to another day (desktop) or moved with the panel
(phone agenda), then Undo; the keyboard path and shuffle."""

from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from models import now_utc

from .support import BOTH_SIZES
from .support import BROWSER_TZ
from .support import landscape_jpeg
from .support import local_at
from .support import posts_of
from .support import shown

pytestmark = pytest.mark.browser
ZONE = ZoneInfo(BROWSER_TZ)
SLOTS = {0: (9, 0), 2: (9, 0), 4: (9, 0), 5: (11, 30)}  # Mon, Wed, Fri 09:00; Sat 11:30


def upcoming_slots(count: int) -> list[datetime]:
    """The next ``count`` slot times after now, worked out day by day."""
    now = now_utc().astimezone(ZONE) + timedelta(minutes=1)
    found, day = [], now.date()
    while len(found) < count:
        if day.weekday() in SLOTS:
            hour, minute = SLOTS[day.weekday()]
            when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)
            if when > now:
                found.append(when)
        day += timedelta(days=1)
    return found


def calendar_at(ui, day: date, view: str = "month") -> None:
    ui.goto(f"/calendar?view={view}&date={day.isoformat()}")
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Calendar")


def post_button(ui, caption: str):
    """The shown entry of a post: in the month grid, or the agenda on a phone."""
    where = ".cal-agenda" if ui.viewport == "phone" else ".cal-grid-wrap"
    return ui.page.locator(f"{where} [data-post]").filter(has_text=caption)


def time_of(app, caption: str) -> datetime:
    (post,) = [p for p in posts_of(app) if p.caption.startswith(caption)]
    return post.scheduled_at


def add_slots(ui, days: list[str], clock: str) -> None:
    section = ui.page.locator("#posting-slots")
    for day in days:
        section.locator("label", has_text=day).click()
    section.get_by_label("Time").fill(clock)
    section.get_by_role("button", name="Add posting slot").click()
    expect(ui.flash()).to_contain_text("Added posting slots: ")


def another_day(slot: datetime) -> date:
    """A day in the same month as ``slot`` that can take a post (future, < 50 days)."""
    today = now_utc().astimezone(ZONE).date()
    for delta in (1, 2, -1, -2, 3, -3):
        day = slot.date() + timedelta(days=delta)
        if day.month == slot.month and today < day < today + timedelta(days=45):
            return day
    raise AssertionError(f"no day to drag to near {slot}")


@BOTH_SIZES
def test_slots_queue_then_move_a_post_and_undo(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()

    # Posting slots on the account page.
    ui.nav("Account")
    add_slots(ui, ["Mon", "Wed", "Fri"], "09:00")
    expect(ui.flash()).to_contain_text("Mon 09:00, Wed 09:00, Fri 09:00.")
    add_slots(ui, ["Sat"], "11:30")
    section = page.locator("#posting-slots")
    expect(section.get_by_role("button", name="Remove Saturday 11:30")).to_be_visible()
    ui.assert_fits()
    section.scroll_into_view_if_needed()
    ui.shot("calendar-slots")

    # Two posts with dates of their own, then both go to the queue.
    ui.add_post(
        landscape_jpeg(tmp_path / "a.jpg", 1600, 1000),
        caption="Harbour at dawn\nsecond line",
        alt_text="Harbour",
        when=local_at(1, 13, 7),
    )
    ui.add_post(
        landscape_jpeg(tmp_path / "b.jpg", 1800, 1000),
        caption="Market day",
        alt_text="Market",
        when=local_at(2, 15, 20),
    )
    first_slot, second_slot = upcoming_slots(2)
    for caption, slot in (("Harbour", first_slot), ("Market", second_slot)):
        calendar_at(ui, time_of(live_app, caption).astimezone(ZONE).date())
        post_button(ui, caption).click()
        panel = page.locator("[data-panel]")
        expect(panel).to_be_visible()
        panel.get_by_role("button", name="Add to queue").click()
        toast = page.locator(".undo-toast")
        expect(toast).to_contain_text(f"Added to the queue: {shown(slot)}.")
        assert time_of(live_app, caption) == slot

    # Move the Market post to another day, then Undo.
    calendar_at(ui, second_slot.date())
    market = post_button(ui, "Market day")
    expect(market.locator("time")).to_have_text(second_slot.strftime("%H:%M"))
    target_day = another_day(second_slot)
    moved = datetime.combine(target_day, second_slot.time(), tzinfo=ZONE)
    if ui.viewport == "phone":
        expect(page.locator(".cal-grid-wrap")).to_be_hidden()
        expect(page.get_by_role("region", name="Agenda")).to_be_visible()
        ui.shot("calendar-agenda")
        market.click()
        step = (target_day - second_slot.date()).days
        name = "Day later" if step > 0 else "Day earlier"
        for _ in range(abs(step)):
            page.locator("[data-panel]").get_by_role("button", name=name).click()
            expect(page.locator("[data-calendar-body]")).not_to_have_class("is-busy")
    else:
        ui.shot("calendar-month")
        cell = page.locator(f'.cal-month td[data-day="{target_day.isoformat()}"]')
        market.drag_to(cell)
    toast = page.locator(".undo-toast")
    expect(toast).to_contain_text(f"Moved to {shown(moved)}.")
    assert time_of(live_app, "Market") == moved
    ui.assert_fits()
    ui.shot("calendar-moved")
    toast.get_by_role("button", name="Undo").click()
    expect(toast).to_contain_text("Undone.")
    assert time_of(live_app, "Market") == second_slot
    expect(post_button(ui, "Market day").locator("time")).to_have_text(
        second_slot.strftime("%H:%M")
    )


def test_keyboard_moves_and_shuffle_in_the_week_view(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    first, second = local_at(2, 10, 0), local_at(3, 16, 45)
    ui.add_post(
        landscape_jpeg(tmp_path / "a.jpg", 1600, 1000),
        caption="Keyboard post",
        alt_text="Keys",
        when=first,
    )
    ui.add_post(
        landscape_jpeg(tmp_path / "b.jpg", 1800, 1000),
        caption="Other post",
        alt_text="Other",
        when=second,
    )
    calendar_at(ui, first.date(), "week")
    post = post_button(ui, "Keyboard post")
    post.focus()
    page.keyboard.press("ArrowDown")  # an hour later
    toast = page.locator(".undo-toast")
    later = first + timedelta(hours=1)
    expect(toast).to_contain_text(f"Moved to {shown(later)}.")
    assert time_of(live_app, "Keyboard") == later
    # Focus stays on the post, so the keys keep working.
    expect(post).to_be_focused()
    expect(post.locator("time")).to_have_text("11:00")
    page.keyboard.press("ArrowRight")  # a day later
    expect(toast).to_contain_text(f"Moved to {shown(later + timedelta(days=1))}.")
    page.keyboard.press("Control+z")
    expect(toast).to_contain_text("Undone.")
    assert time_of(live_app, "Keyboard") == later
    ui.shot("calendar-week")

    page.get_by_role("button", name="Shuffle queue").click()
    expect(toast).to_contain_text("Shuffled 2 posts.")
    assert time_of(live_app, "Keyboard") == second
    assert time_of(live_app, "Other") == later
    toast.get_by_role("button", name="Undo").click()
    expect(toast).to_contain_text("Undone.")
    assert time_of(live_app, "Keyboard") == later


@BOTH_SIZES
def test_save_a_draft_with_no_date_then_give_it_a_time(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    ui.nav("Account")
    add_slots(ui, ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "10:00")

    # No image, no date: the draft is kept anyway.
    ui.goto("/post/add")
    ui.fill_post(caption="Draft idea\nfinish later")
    page.get_by_role("button", name="Save draft").click()
    ui.expect_path("/calendar#drafts")
    expect(ui.flash()).to_contain_text("Draft saved")
    shelf = page.get_by_role("region", name="Drafts")
    draft = shelf.locator("[data-post]")
    expect(draft).to_contain_text("No date")
    expect(draft).to_contain_text("No image")
    expect(draft).to_contain_text("Draft idea")
    ui.assert_fits()
    ui.shot("calendar-drafts")
    [post] = posts_of(live_app)
    assert (post.status, post.scheduled_at, post.filename) == ("draft", None, None)

    # The queue refuses a draft without an image, saying why.
    draft.click()
    panel = page.locator("[data-panel]")
    expect(panel.get_by_role("button", name="Day later")).to_be_hidden()
    ui.problems.expect_http_error(ui.url(f"/calendar/post/{post.id}/queue"), 400)
    panel.get_by_role("button", name="Add to queue").click()
    expect(ui.flash().last).to_contain_text(
        "Add an image to this draft before scheduling"
    )

    # Add the image on the edit page, still as a draft.
    panel.get_by_role("link", name="Open post").click()
    expect(page.locator(".post-status")).to_contain_text("Not scheduled")
    ui.pick_image(landscape_jpeg(tmp_path / "draft.jpg", 1600, 1000))
    page.get_by_role("button", name="Save draft").click()
    ui.expect_path("/calendar#drafts")
    [post] = posts_of(live_app)
    assert post.status == "draft" and post.filename

    # Give it a time: drag it onto a day (desktop) or Add to queue (phone).
    slot = upcoming_slots_daily(10)
    if ui.viewport == "phone":
        shelf.locator("[data-post]").click()
        panel.get_by_role("button", name="Add to queue").click()
        expect(page.locator(".undo-toast")).to_contain_text(
            f"Added to the queue: {shown(slot)}."
        )
    else:
        calendar_at(ui, slot.date())
        cell = page.locator(f'.cal-month td[data-day="{slot.date().isoformat()}"]')
        shelf.locator("[data-post]").drag_to(cell)
        expect(page.locator(".undo-toast")).to_contain_text(f"Moved to {shown(slot)}.")
    [post] = posts_of(live_app)
    assert (post.status, post.scheduled_at) == ("scheduled", slot)
    expect(shelf).to_contain_text("No drafts.")
    ui.shot("calendar-draft-scheduled")
    page.locator(".undo-toast").get_by_role("button", name="Undo").click()
    expect(page.locator(".undo-toast")).to_contain_text("Undone.")
    expect(shelf.locator("[data-post]")).to_contain_text("No date")
    [post] = posts_of(live_app)
    assert (post.status, post.scheduled_at) == ("draft", None)


def upcoming_slots_daily(hour: int) -> datetime:
    """The next hour:00 on the browser's clock that is more than a minute away."""
    now = now_utc().astimezone(ZONE) + timedelta(minutes=1)
    today = datetime(now.year, now.month, now.day, hour, tzinfo=ZONE)
    return today if today > now else today + timedelta(days=1)
