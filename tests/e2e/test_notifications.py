"""Notifications in the browser: choose email and a webhook on the account page,
a post fails, and the demo Outbox shows the email (and webhook) Ospost would
have sent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .support import BOTH_SIZES
from .support import landscape_jpeg
from .support import local_at
from .support import posts_of

pytestmark = pytest.mark.browser


@BOTH_SIZES
def test_failure_email_shows_in_the_demo_outbox(
    open_browser, serve_app, world, tmp_path
):
    app = serve_app(
        DEMO=True,
        start_scheduler=True,
        NOTIFY_INTERVAL_SECONDS=0.2,
        WEBHOOK_ALLOW_PRIVATE=True,  # the demo sends nothing anyway
    )
    ui = open_browser().use(app)
    page = ui.page
    ui.goto("/login")
    page.get_by_role("button", name="Continue with demo account").click()
    ui.expect_path("/")

    ui.nav("Account")
    panel = page.locator("#notifications")
    expect(
        panel.get_by_role("heading", name="Notifications", exact=True)
    ).to_be_visible()
    panel.get_by_label("Email address").fill("me@example.com")
    emails = panel.get_by_role("group", name="Emails to send")
    expect(emails.get_by_label("A post failed")).to_be_checked()
    expect(emails.get_by_label("A daily summary")).not_to_be_checked()
    panel.get_by_role("button", name="Save notifications").click()
    expect(ui.flash()).to_contain_text("Notification settings saved.")
    expect(panel.get_by_label("Email address")).to_have_value("me@example.com")

    panel.get_by_label("Webhook URL").fill("http://127.0.0.1:9/ospost-events")
    panel.get_by_role("button", name="Save webhook").click()
    expect(ui.flash()).to_contain_text("Webhook saved.")
    secret = page.locator("[data-webhook-secret]")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    ui.assert_fits()
    ui.shot("account-notifications")
    page.reload()
    expect(page.locator("[data-webhook-secret]")).to_have_count(0)  # shown once

    world.add_fault(
        {"endpoint": "create"},
        {
            "http": 400,
            "code": 100,
            "subcode": 2207040,
            "user_msg": "You can't tag 21 accounts.",
        },
    )
    ui.add_post(
        landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000),
        caption="Harbour at dusk #boats",
        alt_text="Harbour",
        when=local_at(2, 9, 0),
    )
    ui.open_post("Harbour")
    page.get_by_role("button", name="Post now").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish now").click()
    expect(page.locator(".post-status [data-status-text]")).to_have_text(
        "Failed", timeout=20_000
    )
    [post] = posts_of(app)

    ui.nav("Account")
    with page.expect_navigation():
        page.get_by_role("link", name="Outbox").click()
    ui.expect_path("/notifications/outbox")
    email = page.locator('.outbox-item[data-channel="email"]')
    for _ in range(50):  # the worker ticks every 0.2 s
        if email.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(email).to_have_count(1)
    expect(email).to_contain_text(
        "Post not published on @ospost.demo: Harbour at dusk #boats"
    )
    expect(email).to_contain_text("me@example.com")
    expect(email).to_contain_text("Why: You can't tag 21 accounts.")
    expect(email).to_contain_text(f"/post/{post.id}/edit")
    expect(email).to_contain_text("List-Unsubscribe=One-Click")
    webhook = page.locator('.outbox-item[data-channel="webhook"]')
    expect(webhook).to_contain_text('"type":"post.failed"')
    expect(webhook).to_contain_text("X-Ospost-Signature")
    ui.assert_fits()
    ui.shot("outbox")

    # The email's unsubscribe link works without logging in.
    link = re.search(r"/unsubscribe/[\w.-]+", email.inner_text())[0]
    stranger = open_browser().use(app)
    stranger.goto(link)
    stranger.page.get_by_role("button", name="Unsubscribe").click()
    expect(stranger.page.get_by_role("heading", name="Unsubscribed")).to_be_visible()
    stranger.assert_fits()
    page.goto(ui.url("/account"))
    expect(emails.get_by_label("A post failed")).not_to_be_checked()
    expect(panel.get_by_label("Email address")).to_have_value("me@example.com")


def test_push_opt_in_registers_the_service_worker(open_browser, serve_app):
    from ospost.notify.push import new_private_key

    app = serve_app(
        DEMO=True, VAPID_PRIVATE_KEY=new_private_key(), VAPID_SUBJECT="mailto:a@b.test"
    )
    ui = open_browser().use(app)
    page = ui.page
    ui.goto("/login")
    page.get_by_role("button", name="Continue with demo account").click()
    ui.expect_path("/")
    ui.nav("Account")
    expect(page.get_by_role("button", name="Turn on for this browser")).to_be_visible()
    expect(page.get_by_text("0 browsers get notifications")).to_be_visible()
    scopes = page.evaluate(
        "navigator.serviceWorker.getRegistrations()"
        ".then((all) => all.map((r) => r.scope))"
    )
    assert scopes == [ui.url("/static/")]
