"""Journey 8: the account page: change the time zone, delete the account."""

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
    when = local_at(1, 9, 30)
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
    zone.select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save time zone").click()
    expect(ui.flash()).to_contain_text("Times are now shown in Asia/Tokyo.")
    expect(zone).to_have_value("Asia/Tokyo")
    expect(hint).to_contain_text(f"Your browser is in {BROWSER_TZ}.")
    assert user_row(live_app).timezone == "Asia/Tokyo"

    ui.nav("Home")
    tokyo = shown(when, "Asia/Tokyo")
    assert tokyo.endswith(" JST") and tokyo != shown(when)
    expect(ui.tile("Zones").locator("time")).to_have_text(tokyo)
    ui.open_post("Zones")
    expect(page.locator(".post-status")).to_contain_text(f"Scheduled for {tokyo}")
    expect(page.get_by_label("Publish at")).to_have_value(
        when.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%dT%H:%M")
    )
    expect(page.locator("#date-help")).to_contain_text("Times are in Asia/Tokyo")

    # "Use it" offers the browser's zone back.
    ui.nav("Account")
    page.get_by_role("button", name="Use it").click()
    expect(zone).to_have_value(BROWSER_TZ)

    # Deleting asks first; cancelling keeps everything.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete account").click()
    ui.expect_path("/account")
    old = user_row(live_app)
    assert old is not None
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete account").click()
    ui.expect_path("/login")
    expect(ui.flash()).to_contain_text("Your account and all its data were deleted.")
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
