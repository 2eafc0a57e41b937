"""Journey 3: a grid that is safe to touch. Photos first with details on
demand; a drag starts only from a tile's handle (a press and hold with a
finger), so swiping always scrolls and never changes a date; every move, by
drag or by Earlier/Later, ends in a toast saying what moved, with Undo that
puts back every date and scheduler job.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator
from playwright.sync_api import Page
from playwright.sync_api import expect

from .support import BOTH_SIZES
from .support import job_times
from .support import landscape_jpeg
from .support import local_at
from .support import posts_of
from .support import seed_posts
from .support import shown

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(serve_app):
    """The usual app, with a scheduler horizon past these posts (a day away),
    so each has a job and Undo can be seen restoring it."""
    return serve_app(start_scheduler=True, PUBLISH_HORIZON_SECONDS=60 * 86400)


TIMES = {
    "Morning": local_at(1, 9, 30),
    "Noon": local_at(1, 12, 0),
    "Evening": local_at(1, 18, 0),
}


def schedule(app) -> dict[str, object]:
    return {p.alt_text: p.scheduled_at for p in posts_of(app)}


def grid_alts(page: Page) -> list[str]:
    return page.locator(".grid > .tile .tile-img").evaluate_all(
        "imgs => imgs.map((img) => img.alt)"
    )


def expect_order(page: Page, alts: list[str]) -> None:
    """Wait until the grid shows the posts in this order."""
    page.wait_for_function(
        """(want) => JSON.stringify(want) === JSON.stringify(
             [...document.querySelectorAll('.grid > .tile .tile-img')]
               .map((img) => img.alt))""",
        arg=alts,
    )


def move_button(ui, alt_text: str, direction: str) -> Locator:
    """A tile's keyboard alternative to dragging: "Move earlier" / "Move later"."""
    name = re.compile(f"^Move {direction}: post of ")
    return ui.tile(alt_text).get_by_role("button", name=name)


def watch_moves(page: Page) -> list[str]:
    """Every request that could change a date, as it is sent."""
    sent: list[str] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.url)
            if r.method == "POST" and re.search(r"/$|/move$|/schedule/restore$", r.url)
            else None
        ),
    )
    return sent


def drag_by_handle(ui, source: Locator, target: Locator) -> None:
    """Drag ``source`` by its handle onto ``target``: with the mouse on a
    desktop; on a phone, a tap shows the handle, then a finger presses and
    holds it until the post lifts, and drags."""
    page = ui.page
    handle = source.locator(".tile-handle")
    end = target.bounding_box()
    tx, ty = end["x"] + end["width"] * 0.75, end["y"] + end["height"] / 2
    if ui.viewport != "phone":
        source.hover()
        expect(handle).to_have_css("opacity", "1")
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(tx, ty, steps=20)
        page.mouse.up()
        return
    source.locator(".tile-link").tap()
    expect(source).to_have_class(re.compile(r"\bis-revealed\b"))
    expect(handle).to_have_css("opacity", "1")
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    ui.touch("touchStart", x, y)
    # Held still, the post lifts (Sortable's chosen state) after the delay.
    expect(source).to_have_class(re.compile(r"\btile-chosen\b"))
    ui.shot("home-lifted", full_page=False)
    steps = 20
    for i in range(1, steps + 1):
        ui.touch("touchMove", x + (tx - x) * i / steps, y + (ty - y) * i / steps)
    ui.touch("touchEnd")


@BOTH_SIZES
def test_drag_by_the_handle_then_undo_restores_every_date_and_job(
    ui, live_app, tmp_path
):
    page = ui.page
    ui.login_with_facebook()
    seed_posts(live_app, TIMES, landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000))
    ui.goto("/")
    latest_first = [shown(TIMES[n]) for n in ("Evening", "Noon", "Morning")]
    assert grid_alts(page) == ["Evening", "Noon", "Morning"]
    expect(ui.grid_times()).to_have_text(latest_first)
    # Photos first: no time or button in sight until asked for.
    expect(ui.tile("Noon").locator(".tile-date")).to_have_css("opacity", "0")
    expect(page.locator("#grid-help")).to_contain_text("take them in the new order")
    ui.shot("home")
    jobs_before = job_times(live_app)
    assert sorted(jobs_before.values()) == sorted(TIMES.values())
    page.evaluate("window.__sameDocument = true")

    # Drag the evening post to the last place: the posts keep the three times
    # and take them in the new order, so the two others shift by one.
    drag_by_handle(ui, ui.tile("Evening"), ui.tile("Morning"))
    toast = ui.toast()
    expect(toast).to_contain_text("Moved 3 posts.")
    for name, before, after in (
        ("Evening", "Evening", "Morning"),
        ("Noon", "Noon", "Evening"),
        ("Morning", "Morning", "Noon"),
    ):
        expect(toast).to_contain_text(
            f"“{name}”{shown(TIMES[before])} → {shown(TIMES[after])}"
        )
    assert ui.in_viewport(toast)
    ui.shot("home-moved", full_page=False)
    assert grid_alts(page) == ["Noon", "Morning", "Evening"]
    expect(ui.grid_times()).to_have_text(latest_first)
    assert schedule(live_app) == {
        "Noon": TIMES["Evening"],
        "Morning": TIMES["Noon"],
        "Evening": TIMES["Morning"],
    }
    assert job_times(live_app) != jobs_before

    toast.get_by_role("button", name="Undo").click()
    expect(toast).to_contain_text("Undone: the posts are back at their earlier times.")
    ui.assert_accessible("home-undone")
    assert grid_alts(page) == ["Evening", "Noon", "Morning"]
    expect(ui.grid_times()).to_have_text(latest_first)
    assert schedule(live_app) == TIMES
    assert job_times(live_app) == jobs_before
    # All of it without reloading the page.
    assert page.evaluate("window.__sameDocument") is True
    ui.assert_fits()


@BOTH_SIZES
def test_earlier_and_later_toast_with_undo_and_keep_focus(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    seed_posts(live_app, TIMES, landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000))
    ui.goto("/")
    jobs_before = job_times(live_app)

    # "Move later" on the evening post (the last to go out, so first on the
    # grid) is not possible; "Move earlier" swaps it with noon.
    expect(move_button(ui, "Evening", "later")).to_be_disabled()
    move_button(ui, "Evening", "earlier").focus()
    ui.shot("home-focus", full_page=False)
    page.keyboard.press("Enter")
    toast = ui.toast()
    expect(toast).to_contain_text("Moved 2 posts.")
    expect(toast).to_contain_text(
        f"“Evening”{shown(TIMES['Evening'])} → {shown(TIMES['Noon'])}"
    )
    expect(toast).to_contain_text(
        f"“Noon”{shown(TIMES['Noon'])} → {shown(TIMES['Evening'])}"
    )
    assert grid_alts(page) == ["Noon", "Evening", "Morning"]
    expect(move_button(ui, "Evening", "earlier")).to_be_focused()
    assert schedule(live_app)["Evening"] == TIMES["Noon"]

    # Undo from the keyboard: Ctrl+Z while the toast is up.
    expect(toast.get_by_role("button", name="Undo")).to_have_attribute(
        "aria-keyshortcuts", "Control+Z"
    )
    page.keyboard.press("Control+z")
    expect(toast).to_contain_text("Undone")
    assert grid_alts(page) == ["Evening", "Noon", "Morning"]
    assert schedule(live_app) == TIMES
    assert job_times(live_app) == jobs_before

    # Two moves in a row: Undo takes back the last one only.
    for expected in (["Evening", "Morning", "Noon"], ["Morning", "Evening", "Noon"]):
        move_button(ui, "Morning", "later").focus()
        with page.expect_response(re.compile(r"/move$")):
            page.keyboard.press("Enter")
        expect_order(page, expected)
        if expected[0] == "Evening":
            after_first = schedule(live_app)
    page.keyboard.press("Control+z")
    expect(toast).to_contain_text("Undone")
    assert grid_alts(page) == ["Evening", "Morning", "Noon"]
    assert schedule(live_app) == after_first
    ui.assert_fits()


@pytest.mark.parametrize("viewport", ["phone"])
def test_a_swipe_in_any_mode_never_changes_a_date(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    times = {f"Post {i:02d}": local_at(1 + i // 6, 8 + i % 6, 15) for i in range(18)}
    seed_posts(live_app, times, landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000))
    ui.goto("/")
    sent = watch_moves(page)
    width = ui.width

    def swipe_on(tile: Locator, where: str = "photo") -> None:
        box = tile.bounding_box()
        if where == "handle":
            handle = tile.locator(".tile-handle").bounding_box()
            x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        elif where == "buttons":
            x, y = box["x"] + box["width"] / 4, box["y"] + box["height"] - 10
        else:
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        ui.swipe(min(x, width - 5), y, -250)

    def scrolled_by_swipe(tile: Locator, where: str = "photo") -> None:
        page.evaluate("window.scrollTo(0, 0)")
        tile.scroll_into_view_if_needed()
        start = page.evaluate("window.scrollY")
        swipe_on(tile, where)
        page.wait_for_function(f"window.scrollY > {start + 50}")

    # Photos only: a swipe over the tiles scrolls the page.
    scrolled_by_swipe(ui.tile("Post 10"))
    # Details switched on: the handle, time and Earlier/Later are in sight;
    # swiping over the photo or the buttons still scrolls.
    page.get_by_role("button", name="Details").click()
    expect(page.get_by_role("button", name="Details")).to_have_attribute(
        "aria-pressed", "true"
    )
    ui.shot("home-details")
    scrolled_by_swipe(ui.tile("Post 13"))
    scrolled_by_swipe(ui.tile("Post 07"), "buttons")
    # A quick swipe that starts on a handle is not a press and hold: nothing
    # is lifted, nothing moves.
    tile = ui.tile("Post 12")
    tile.scroll_into_view_if_needed()
    swipe_on(tile, "handle")
    expect(tile).not_to_have_class(re.compile(r"\btile-chosen\b"))
    # Details off again (remembered), a tapped tile shows its details; a swipe
    # from it scrolls too.
    page.get_by_role("button", name="Details").click()
    page.reload()
    expect(page.get_by_role("button", name="Details")).to_have_attribute(
        "aria-pressed", "false"
    )
    page.evaluate("window.scrollTo(0, 0)")
    tile = ui.tile("Post 16")
    tile.locator(".tile-link").tap()
    expect(tile).to_have_class(re.compile(r"\bis-revealed\b"))
    expect(page).to_have_url(ui.url("/"))  # the first tap does not open it
    ui.shot("home-revealed", full_page=False)
    scrolled_by_swipe(tile)

    page.wait_for_timeout(500)  # anything a gesture set off has been sent
    assert sent == []
    assert schedule(live_app) == times


def test_a_mouse_drag_on_a_photo_moves_nothing(ui, live_app, tmp_path):
    page = ui.page
    ui.login_with_facebook()
    seed_posts(live_app, TIMES, landscape_jpeg(tmp_path / "photo.jpg", 1600, 1000))
    ui.goto("/")
    sent = watch_moves(page)
    start, end = ui.tile("Evening").bounding_box(), ui.tile("Morning").bounding_box()
    page.mouse.move(start["x"] + 40, start["y"] + start["height"] - 60)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] * 0.75, end["y"] + 60, steps=20)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert sent == []
    assert grid_alts(page) == ["Evening", "Noon", "Morning"]
    assert schedule(live_app) == TIMES
