"""Several Instagram accounts in the browser: connect a second account, switch
between them with the navigation bar's switcher, schedule on each, see one
account's failure email in the demo Outbox, and disconnect the other."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

import simulator

from .support import BOTH_SIZES
from .support import landscape_jpeg
from .support import local_at
from .support import posts_of
from .support import user_row

pytestmark = pytest.mark.browser
MULTI_ONE_PAGE = "200000000000002"


def switcher(ui):
    return ui.page.locator("[data-account-switcher]")


def open_switcher(ui):
    box = switcher(ui)
    if box.get_attribute("open") is None:
        box.locator("summary").click()
    expect(box.get_by_text("Switch account", exact=True)).to_be_visible()
    return box


def switch_to(ui, username: str) -> None:
    box = open_switcher(ui)
    with ui.page.expect_navigation():
        box.get_by_role("button", name=f"@{username}").click()
    ui.expect_path("/")
    expect(ui.flash()).to_contain_text(f"Now working on @{username}.")
    expect(switcher(ui).locator("summary")).to_contain_text(f"@{username}")


@BOTH_SIZES
def test_connect_switch_schedule_and_disconnect(
    open_browser, serve_app, world, tmp_path
):
    app = serve_app(DEMO=True, start_scheduler=True, NOTIFY_INTERVAL_SECONDS=0.2)
    ui = open_browser().use(app)
    page = ui.page
    ui.goto("/login")
    page.get_by_role("button", name="Continue with demo account").click()
    ui.expect_path("/")
    expect(switcher(ui).locator("summary")).to_contain_text("@ospost.demo")

    # The demo login is given a second Page on Facebook; "Connect another
    # account" runs the Facebook flow again and picks it up.
    world.grant_page(MULTI_ONE_PAGE, simulator.DEMO_USERS["demo"])
    box = open_switcher(ui)
    ui.assert_fits()
    ui.shot("account-switcher-one")
    with page.expect_navigation():
        box.get_by_role("link", name="Connect another account").click()
    expect(
        page.get_by_role("heading", name="Connect another Instagram account")
    ).to_be_visible()
    ui.assert_fits()
    ui.shot("connect-another-account")
    page.get_by_role("button", name="Continue with demo account").click()
    ui.expect_path("/")
    expect(ui.flash()).to_contain_text("Connected @multi.one.")
    expect(switcher(ui).locator("summary")).to_contain_text("@multi.one")

    # Schedule on the new account...
    photo = landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000)
    ui.add_post(
        photo, caption="Lighthouse", alt_text="Lighthouse", when=local_at(2, 10, 0)
    )
    open_switcher(ui)
    ui.assert_fits()
    ui.shot("account-switcher-two")
    # ...then on the first, whose grid does not show the other's post.
    switch_to(ui, "ospost.demo")
    expect(ui.tile("Lighthouse")).to_have_count(0)
    ui.nav("Account")
    page.locator("#notifications").get_by_label("Email address").fill("me@example.com")
    page.get_by_role("button", name="Save notifications").click()
    expect(ui.flash()).to_contain_text("Notification settings saved.")
    world.add_fault(
        {"endpoint": "create"},
        {"http": 400, "code": 100, "subcode": 2207040, "user_msg": "Too many tags."},
    )
    ui.add_post(photo, caption="Harbour", alt_text="Harbour", when=local_at(2, 9, 0))
    ui.open_post("Harbour")
    page.get_by_role("button", name="Post now").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()
    expect(page.locator(".post-status [data-status-text]")).to_have_text(
        "Failed", timeout=20_000
    )
    expect(page.locator(".post-history")).to_contain_text("(Demo User)")
    ui.goto("/notifications/outbox")
    email = page.locator('.outbox-item[data-channel="email"]')
    for _ in range(50):  # the notification worker ticks every 0.2 s
        if email.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(email).to_contain_text("Post not published on @ospost.demo: Harbour")
    ui.assert_fits()
    ui.shot("accounts-outbox")

    assert [p.caption for p in posts_of(app, "multi.one")] == ["Lighthouse"]
    assert [p.caption for p in posts_of(app, "ospost.demo")] == ["Harbour"]

    # Disconnect the second account from the accounts page.
    box = open_switcher(ui)
    with page.expect_navigation():
        box.get_by_role("link", name="Manage accounts").click()
    ui.expect_path("/accounts")
    card = page.locator('[data-account="multi.one"]')
    card.get_by_text("Disconnect…").click()
    ui.assert_fits()
    ui.shot("accounts-disconnect")
    with page.expect_navigation():
        card.get_by_role("button", name="Disconnect @multi.one").click()
    expect(ui.flash()).to_contain_text("@multi.one was disconnected")
    expect(page.locator('[data-account="multi.one"]')).to_have_count(0)
    assert user_row(app, "multi.one") is None
    assert [p.caption for p in posts_of(app, "ospost.demo")] == ["Harbour"]
    box = open_switcher(ui)
    expect(box.get_by_role("button", name="@multi.one")).to_have_count(0)
    ui.assert_fits()
    ui.shot("accounts-after-disconnect")
