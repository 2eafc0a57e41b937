"""The private calendar feed: made and reset on the account page, read by a
calendar app without a session, parsed here with ``icalendar``."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from icalendar import Calendar
from sqlalchemy import select
from test_planning import add_post

from models import CalendarFeed
from models import PostStatus
from models import db
from support import AuthActions
from support import soon

FEED_URL = re.compile(r'value="(http://[^"]+/calendar/feed/([A-Za-z0-9_-]{43})\.ics)"')


def make_feed(client) -> tuple[str, str]:
    """Press "Make a feed address"; returns the shown URL's path and token."""
    resp = client.post("/account/calendar-feed")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    url, token = FEED_URL.search(resp.get_data(as_text=True)).groups()
    return url.split("127.0.0.1", 1)[-1].split("localhost", 1)[-1], token


def feed_path(token: str) -> str:
    return f"/calendar/feed/{token}.ics"


def test_the_feed_lists_scheduled_posts_with_the_first_line_only(app, client, user):
    first = soon(60 * 24)
    add_post(app, user.id, first, caption="Launch day 🚀\nSecret second line #tag")
    add_post(app, user.id, soon(60 * 48), caption="\n\n  Second post  ")
    add_post(app, user.id, soon(-60), status=PostStatus.PUBLISHED, caption="Old")
    add_post(app, user.id, soon(-60), status=PostStatus.FAILED, caption="Broken")
    _, token = make_feed(client)
    anonymous = app.test_client()  # a calendar app has no session
    resp = anonymous.get(feed_path(token))
    assert resp.status_code == 200
    assert resp.mimetype == "text/calendar"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    calendar = Calendar.from_ical(resp.data)
    events = calendar.events
    assert [e.summary for e in events] == ["Launch day 🚀", "Second post"]
    assert events[0].start == first
    assert events[0].end - events[0].start == timedelta(minutes=15)
    assert events[0].uid.startswith("ospost-post-")
    assert "Secret" not in resp.get_data(as_text=True)
    assert "ospost.demo" in str(calendar.calendar_name)


def test_the_token_is_stored_hashed_and_a_reset_kills_the_old_address(
    app, client, user
):
    add_post(app, user.id, soon(600))
    _, old = make_feed(client)
    with app.app_context():
        stored = db.session.scalars(select(CalendarFeed.token_sha256)).one()
    assert stored == hashlib.sha256(old.encode()).hexdigest() and old not in stored
    assert "Your feed is on." in client.get("/account").get_data(as_text=True)
    _, new = make_feed(client)
    assert new != old
    assert client.get(feed_path(old)).status_code == 404
    assert client.get(feed_path(new)).status_code == 200
    resp = client.post("/account/calendar-feed/off", follow_redirects=True)
    assert "The calendar feed is off" in resp.get_data(as_text=True)
    assert client.get(feed_path(new)).status_code == 404
    assert "Make a feed address" in client.get("/account").get_data(as_text=True)


def test_wrong_tokens_get_404(app, client, user):
    make_feed(client)
    for token in ("x" * 43, "short", "A" * 44, "%2e%2e", "a" * 42 + "!"):
        assert client.get(feed_path(token)).status_code == 404


def test_a_feed_shows_no_one_elses_posts(app, client, user, auth):
    add_post(app, user.id, soon(600), caption="Mine")
    other = app.test_client()
    AuthActions(other, auth.world).login("other")
    with app.app_context():
        from models import User

        other_user = db.session.scalars(select(User).where(User.id != user.id)).one()
    add_post(app, other_user.id, soon(700), caption="Theirs")
    _, token = make_feed(client)
    _, their_token = make_feed(other)
    mine = Calendar.from_ical(client.get(feed_path(token)).data)
    theirs = Calendar.from_ical(other.get(feed_path(their_token)).data)
    assert [e.summary for e in mine.events] == ["Mine"]
    assert [e.summary for e in theirs.events] == ["Theirs"]


def test_making_a_feed_needs_a_login(app):
    anonymous = app.test_client()
    assert anonymous.post("/account/calendar-feed").status_code == 302
    assert anonymous.post("/account/calendar-feed/off").status_code == 302
