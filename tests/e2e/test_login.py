"""Journey 1: logging in, with Facebook (fake SDK) and with the demo account."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import simulator

from .support import BOTH_SIZES
from .support import BROWSER_TZ
from .support import user_row

pytestmark = pytest.mark.browser


@BOTH_SIZES
def test_log_in_with_facebook_then_log_out(ui, live_app):
    page = ui.page
    ui.fb.cancel = True
    response = ui.goto("/")
    ui.expect_path("/login?next=/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' https://connect.facebook.net" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Schedule your Instagram posts"
    )
    expect(page.get_by_role("button", name="Continue with demo account")).to_have_count(
        0
    )
    ui.shot("login")

    # The person closes Facebook's dialog: the page says so and stays.
    page.wait_for_function("() => window.FB !== undefined")
    page.get_by_role("button", name="Log in with Facebook").click()
    expect(page.locator("[data-login-alerts] .alert")).to_contain_text(
        "Facebook login was cancelled"
    )
    ui.assert_accessible("login-cancelled")
    assert page.evaluate("window.__fbInitOptions.appId") == simulator.DEFAULT_APP_ID
    scope = page.evaluate("window.__fbLoginOptions.scope").split(",")
    assert {"instagram_content_publish", "instagram_manage_comments"} <= set(scope)

    ui.fb.cancel = False
    page.reload()
    ui.click_facebook_login()
    ui.expect_path("/")
    expect(page.get_by_role("heading", name="@ospost.demo")).to_be_visible()
    expect(page.get_by_role("heading", name="Nothing scheduled yet")).to_be_visible()
    expect(page.get_by_role("link", name="Create your first post")).to_be_visible()
    ui.shot("home-empty")

    user = user_row(live_app)
    assert user.timezone == BROWSER_TZ  # what Intl said in the browser
    assert user.fb_user_id == simulator.DEMO_USERS["demo"]
    assert not user.needs_reauth

    # Logged in, the login page is only for reconnecting.
    ui.goto("/login")
    ui.expect_path("/")
    ui.goto("/login?reconnect=1")
    expect(page.get_by_role("button", name="Log in with Facebook")).to_be_visible()
    ui.goto("/")

    ui.nav("Account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Account")
    expect(page.get_by_role("combobox", name="Time zone")).to_have_value(BROWSER_TZ)
    expect(page.get_by_text("Facebook Page: Ospost Demo Café")).to_be_visible()
    ui.shot("account")

    ui.log_out()
    ui.expect_path("/login")
    expect(ui.flash()).to_contain_text("You are logged out.")
    ui.goto("/account")
    ui.expect_path("/login?next=/account")


@BOTH_SIZES
def test_continue_with_demo_account(open_browser, serve_app):
    app = serve_app(DEMO=True)
    ui = open_browser().use(app)
    page = ui.page
    ui.goto("/login")
    expect(page.get_by_text("Demo mode", exact=True)).to_be_visible()
    ui.shot("login-demo")
    page.get_by_role("button", name="Continue with demo account").click()
    ui.expect_path("/")
    expect(page.get_by_role("heading", name="@ospost.demo")).to_be_visible()
    expect(page.get_by_role("heading", name="Nothing scheduled yet")).to_be_visible()
    ui.assert_fits()
    assert user_row(app).timezone == BROWSER_TZ
