"""Changing the time zone on the account page: scheduled posts keep their
moments, or their clock times when the person asks, across daylight saving."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models import Post
from models import User
from models import db
from ospost.scheduler import publisher
from support import AuthActions
from support import create_post


def post_times(app) -> list[datetime]:
    with app.app_context():
        return list(db.session.scalars(select(Post.scheduled_at).order_by(Post.id)))


def user_zone(app) -> str:
    with app.app_context():
        return db.session.scalars(select(User.timezone)).one()


def next_local(hour: int, minute: int, tz: str, days: int = 2) -> datetime:
    """``days`` from today at hour:minute on ``tz`` clocks, as aware UTC."""
    zone = ZoneInfo(tz)
    day = datetime.now(zone).date() + timedelta(days=days)
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return local.astimezone(UTC)


def same_clock(moment: datetime, old: str, new: str) -> datetime:
    """The instant showing ``moment``'s ``old`` wall-clock date and time in ``new``."""
    wall = moment.astimezone(ZoneInfo(old)).replace(tzinfo=None)
    return wall.replace(tzinfo=ZoneInfo(new)).astimezone(UTC)


def change(client, tz: str, keep: str | None = None):
    data = {"timezone": tz} | ({"keep": keep} if keep else {})
    resp = client.post("/account/timezone", data=data)
    assert resp.status_code == 302
    return client.get("/account").get_data(as_text=True)


def test_account_page_says_what_happens_to_scheduled_posts(app, client, user):
    page = client.get("/account").get_data(as_text=True)
    assert 'name="keep"' not in page  # nothing scheduled: nothing to choose
    assert create_post(client, when=next_local(9, 0, "Europe/Paris")).status_code == 200
    page = client.get("/account").get_data(as_text=True)
    assert re.search(r'name="keep" id="keep-moments" value="moments" checked', page)
    assert re.search(r'name="keep" id="keep-clock" value="clock"', page)
    assert "1 scheduled post" in page
    assert "09:00" in page  # the next post's clock time, as an example


def test_keeping_moments_changes_no_post(app, client, user):
    when = next_local(9, 0, "Europe/Paris")
    assert create_post(client, when=when).status_code == 200
    page = change(client, "Asia/Tokyo", "moments")
    assert "Times are now shown in Asia/Tokyo." in page
    assert "same moments" in page
    assert post_times(app) == [when]
    assert user_zone(app) == "Asia/Tokyo"


def test_keeping_clock_times_moves_posts_and_their_jobs(all_jobs_app, auth):
    app = all_jobs_app
    client = app.test_client()
    AuthActions(client, auth.world).login(tz="Europe/Paris")
    first = next_local(9, 0, "Europe/Paris")
    second = next_local(18, 30, "Europe/Paris", days=3)
    for when in (first, second):
        assert create_post(client, when=when).status_code == 200
    page = change(client, "America/New_York", "clock")
    assert "2 scheduled posts keep their clock times" in page
    times = post_times(app)
    # Same wall date as in Paris, even when New York's "today" is another day.
    assert times == [
        same_clock(w, "Europe/Paris", "America/New_York") for w in (first, second)
    ]
    with app.app_context():
        ids = list(db.session.scalars(select(Post.id).order_by(Post.id)))
    jobs = [publisher.scheduler.get_job(f"post-{i}").next_run_time for i in ids]
    assert jobs == times


def test_a_clock_time_the_new_zone_skips_moves_past_the_jump(app, client, user):
    # Paris skips 02:00-03:00 on the last Sunday of March. Schedule 02:30 that
    # night on UTC clocks (UTC has no jump), then ask Paris to keep 02:30.
    assert change(client, "UTC")
    march = datetime(datetime.now(UTC).year + 1, 3, 31, tzinfo=UTC)
    jump = march - timedelta(days=(march.weekday() + 1) % 7)  # last Sunday
    when = jump.replace(hour=2, minute=30)
    with app.app_context():
        # Beyond the 50-day window, so written directly as an old post would be.
        owner = db.session.scalars(select(User)).one()
        owner.token_expires_at = None
        post = Post(user=owner, filename="x.jpg", thumbnail="t.jpg", alt_text="Jump")
        post.schedule(when)
        db.session.add(post)
        db.session.commit()
    app.config["MAX_SCHEDULE_DAYS"] = 500
    page = change(client, "Europe/Paris", "clock")
    [moved] = post_times(app)
    local = moved.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.month, local.day, local.hour, local.minute) == (3, jump.day, 3, 30)
    assert "“Jump” was due at" in page and "skips for daylight saving" in page
    assert "now due at" in page and "03:30" in page


def test_a_clock_time_that_happens_twice_means_the_first(app, client, user):
    assert change(client, "UTC")
    october = datetime(datetime.now(UTC).year + 1, 10, 31, tzinfo=UTC)
    back = october - timedelta(days=(october.weekday() + 1) % 7)
    when = back.replace(hour=2, minute=30)
    with app.app_context():
        owner = db.session.scalars(select(User)).one()
        owner.token_expires_at = None
        post = Post(user=owner, filename="x.jpg", thumbnail="t.jpg")
        post.schedule(when)
        db.session.add(post)
        db.session.commit()
    app.config["MAX_SCHEDULE_DAYS"] = 500
    change(client, "Europe/Paris", "clock")
    [moved] = post_times(app)
    local = moved.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute, local.tzname()) == (2, 30, "CEST")


def test_clock_times_that_would_land_in_the_past_change_nothing(app, client, user):
    # 30 minutes from now in Paris; the same clock time in Tokyo (8 hours
    # ahead) went by hours ago.
    soon_in_paris = (datetime.now(UTC) + timedelta(minutes=30)).replace(
        second=0, microsecond=0
    )
    assert create_post(client, when=soon_in_paris).status_code == 200
    page = change(client, "Asia/Tokyo", "clock")
    assert "Nothing was changed" in page and "Pick a time in the future" in page
    assert post_times(app) == [soon_in_paris]
    assert user_zone(app) == "Europe/Paris"


def test_an_unknown_choice_changes_nothing(app, client, user):
    page = change(client, "Asia/Tokyo", "sometimes")
    assert "Choose a time zone from the list" in page
    assert user_zone(app) == "Europe/Paris"
