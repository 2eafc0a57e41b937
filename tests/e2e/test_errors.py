"""Journey 9: error pages and messages: unknown URL, someone else's post, an
upload over the size limit, and a form whose CSRF token is no longer valid.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .support import landscape_jpeg
from .support import local_at
from .support import noise_jpeg
from .support import posts_of

pytestmark = pytest.mark.browser


def expect_error_page(ui, code: int, message: str) -> None:
    page = ui.page
    expect(page.locator(".error-page")).to_contain_text(str(code))
    expect(page.get_by_role("heading", level=1)).to_have_text(message)
    expect(page.get_by_role("link", name="Back to your posts")).to_be_visible()
    ui.assert_fits()


def test_unknown_url_shows_a_friendly_404(ui):
    ui.login_with_facebook()
    ui.problems.expect_http_error(ui.url("/no/such/page"), 404)
    response = ui.goto("/no/such/page")
    assert response.status == 404
    assert "content-security-policy" in response.headers
    expect_error_page(ui, 404, "That page or post does not exist.")
    ui.shot("error-404")
    ui.page.get_by_role("link", name="Back to your posts").click()
    ui.expect_path("/")


def test_someone_elses_post_is_not_found(open_browser, live_app, tmp_path):
    # Another person schedules a post in their own browser.
    other = open_browser().use(live_app)
    other.login_with_facebook("other")
    other.add_post(
        landscape_jpeg(tmp_path / "theirs.jpg", 1600, 1000),
        caption="Not yours",
        alt_text="Theirs",
        when=local_at(2, 10, 0),
    )
    [theirs] = posts_of(live_app, "other.brand")

    me = open_browser().use(live_app)
    me.login_with_facebook("demo")
    for path in (f"/post/{theirs.id}/edit", f"/uploads/{theirs.thumbnail}"):
        me.problems.expect_http_error(me.url(path), 404)
        assert me.goto(path).status == 404
        expect_error_page(me, 404, "That page or post does not exist.")
    me.goto("/")
    expect(me.page.get_by_role("heading", name="Nothing scheduled yet")).to_be_visible()


def test_upload_over_the_size_limit_says_so(open_browser, serve_app, tmp_path):
    # The post form's body may reach VIDEO_MAX_UPLOAD_MB (a carousel's videos).
    app = serve_app(MAX_CONTENT_LENGTH=1024 * 1024, VIDEO_MAX_UPLOAD_MB=1)
    ui = open_browser().use(app)
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    # Random pixels stay far above 1 MB even after the browser re-encodes the crop.
    ui.pick_image(noise_jpeg(tmp_path / "noise.jpg", 1200, 1500))
    ui.fill_post(caption="Too big", when=local_at(1, 9, 30))
    ui.problems.expect_http_error(ui.url("/post/add"), 413)
    page.get_by_role("button", name="Schedule post").click()
    alert = page.locator("[data-form-alerts] .alert")
    expect(alert).to_contain_text("too large")
    expect(alert).to_contain_text("1 MB")
    ui.expect_path("/post/add")
    expect(page.get_by_role("button", name="Schedule post")).to_be_enabled()
    expect(page.locator("[data-upload-progress]")).to_be_hidden()
    ui.assert_fits()
    ui.shot("add-too-large")
    assert posts_of(app) == []


def test_upload_limit_under_one_megabyte_is_stated_correctly(
    open_browser, serve_app, tmp_path
):
    app = serve_app(MAX_CONTENT_LENGTH=200 * 1024)
    ui = open_browser().use(app)
    page = ui.page
    ui.login_with_facebook()
    ui.goto("/post/add")
    ui.pick_image(noise_jpeg(tmp_path / "noise.jpg", 800, 1000))
    ui.fill_post(caption="Too big", when=local_at(1, 9, 30))
    # Under the form's limit, over a photo's: refused at its field.
    ui.problems.expect_http_error(ui.url("/post/add"), 400)
    page.get_by_role("button", name="Schedule post").click()
    alert = page.locator("[data-form-alerts] .alert")
    expect(alert).to_contain_text("1 field needs your attention: Media.")
    expect(
        page.get_by_text(re.compile(r"a photo can be at most 200 KB\."))
    ).to_be_visible()
    assert "0 MB" not in page.locator("#main").inner_text()
    assert posts_of(app) == []


def test_expired_form_token_shows_what_to_do(ui, live_app):
    page = ui.page
    ui.login_with_facebook()
    ui.nav("Account")
    page.locator("[data-timezone-form] input[name=csrf_token]").evaluate(
        "input => { input.value = 'expired'; }"
    )
    ui.problems.expect_http_error(ui.url("/account/timezone"), 400)
    page.get_by_role("button", name="Save time zone").click()
    expect_error_page(
        ui,
        400,
        "Your form expired or came from another site. Reload the page and try again.",
    )
