"""Journey 8: the account page: change the time zone (keeping the posts' clock
times), delete the account."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .support import BROWSER_TZ
from .support import landscape_jpeg
from .support import local_at
from .support import posts_of
from .support import shown
from .support import user_row

pytestmark = pytest.mark.browser


def test_change_time_zone_then_delete_account(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    # Two days ahead: kept at 09:30 on Tokyo's clocks, which run 17 hours ahead
    # of Los Angeles, the post must still be in the future at any time of day.
    when = local_at(2, 9, 30)
    ui.add_post(
        landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000),
        caption="Zones #tz",
        alt_text="Zones",
        when=when,
    )
    expect(ui.tile("Zones").locator("time")).to_have_text(shown(when))

    ui.nav("Account")
    zone = page.get_by_role("combobox", name="Time zone")
    expect(zone).to_have_value(BROWSER_TZ)
    hint = page.locator("[data-browser-zone]")
    expect(hint).to_be_hidden()  # the saved zone is the browser's
    # The page says what a new zone does to the scheduled post, both ways.
    zone.select_option("Asia/Tokyo")
    keep_moments = page.get_by_role("radio", name="Keep the same moments")
    keep_clock = page.get_by_role("radio", name="Keep the clock times")
    expect(keep_moments).to_be_checked()
    expect(page.locator("#keep-moments-help")).to_contain_text(
        "In Asia/Tokyo your next post reads"
    )
    expect(page.locator("#keep-clock-help")).to_contain_text("09:30")
    expect(page.locator("#keep-clock-help")).to_contain_text(
        "hours earlier than it is due now"
    )
    ui.shot("account-timezone")
    keep_clock.check()
    page.get_by_role("button", name="Save time zone").click()
    expect(ui.flash()).to_contain_text("Times are now shown in Asia/Tokyo.")
    expect(ui.flash()).to_contain_text("1 scheduled post keeps its clock time")
    ui.assert_accessible("account-saved")
    expect(zone).to_have_value("Asia/Tokyo")
    expect(hint).to_contain_text(f"Your browser is in {BROWSER_TZ}.")
    assert user_row(live_app).timezone == "Asia/Tokyo"
    tokyo_when = when.replace(tzinfo=ZoneInfo("Asia/Tokyo"))
    assert posts_of(live_app)[0].scheduled_at == tokyo_when

    ui.nav("Home")
    tokyo = shown(tokyo_when, "Asia/Tokyo")
    assert tokyo.endswith("09:30 JST")
    expect(ui.tile("Zones").locator("time")).to_have_text(tokyo)
    ui.open_post("Zones")
    expect(page.locator(".post-status")).to_contain_text(f"Scheduled for {tokyo}")
    expect(page.get_by_label("Publish at")).to_have_value(
        tokyo_when.strftime("%Y-%m-%dT%H:%M")
    )
    expect(page.locator("#date-help")).to_contain_text("Times are in Asia/Tokyo")

    # "Use it" offers the browser's zone back.
    ui.nav("Account")
    page.get_by_role("button", name="Use it").click()
    expect(zone).to_have_value(BROWSER_TZ)

    # Deleting asks first, in the page's own dialog; Cancel keeps everything.
    page.get_by_role("button", name="Delete account").click()
    dialog = page.get_by_role("dialog", name="Delete your Ospost account?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    ui.shot("account-confirm-delete", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    ui.expect_path("/account")
    old = user_row(live_app)
    assert old is not None
    page.get_by_role("button", name="Delete account").click()
    dialog.get_by_role("button", name="Delete account").click()
    ui.expect_path("/login")
    expect(ui.flash()).to_contain_text(
        "Your Ospost account and all its data were deleted."
    )
    assert user_row(live_app) is None
    ui.goto("/")
    ui.expect_path("/login?next=/")

    # Logging in again starts from nothing.
    ui.click_facebook_login()
    ui.expect_path("/")
    expect(page.get_by_role("heading", name="Nothing scheduled yet")).to_be_visible()
    user = user_row(live_app)
    assert user.created_at > old.created_at
    assert user.timezone == BROWSER_TZ
    assert posts_of(live_app) == []
