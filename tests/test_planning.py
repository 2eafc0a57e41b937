"""Posting slots on the account page, the queue (add, shuffle, one slot later),
moving posts on the calendar, clash warnings, Undo, and the calendar page."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import Post
from models import PostingSlot
from models import PostStatus
from models import User
from models import db
from ospost import calendar as calendar_module
from ospost.scheduler import publisher
from support import AuthActions
from support import create_post
from support import image_bytes
from support import post_row
from support import soon

JSON = {"Accept": "application/json"}
PARIS = ZoneInfo("Europe/Paris")


# -- helpers -------------------------------------------------------------------


@pytest.fixture
def freeze(monkeypatch):
    """Make the planning routes see ``when`` as now."""

    def set_now(when: datetime) -> None:
        monkeypatch.setattr(calendar_module, "now_utc", lambda: when)

    return set_now


def set_user(app, user_id: int, **values) -> None:
    with app.app_context():
        stored = db.session.get(User, user_id)
        for key, value in values.items():
            setattr(stored, key, value)
        db.session.commit()


def add_post(app, user_id, when, status=PostStatus.SCHEDULED, **extra) -> int:
    """A post written straight to the database (no upload needed)."""
    with app.app_context():
        post = Post(user_id=user_id, caption=extra.pop("caption", "hello"), **extra)
        post.schedule(when)
        if status == PostStatus.FAILED:
            post.fail("Instagram said no.", code=9007, subcode=2207027)
        elif status != PostStatus.SCHEDULED:
            post.status = status
        db.session.add(post)
        db.session.commit()
        return post.id


def times_of(app, *ids) -> list[datetime | None]:
    return [post_row(app, i).scheduled_at for i in ids]


def add_slots(client, days, clock):
    return client.post(
        "/account/slots",
        data={"weekday": [str(d) for d in days], "time": clock},
        follow_redirects=True,
    )


def act(client, path, **body):
    return client.post(path, json=body, headers=JSON)


def next_local(after: datetime, zone, weekday: int, hour: int, minute=0):
    """The first ``weekday`` hour:minute on the clocks of ``zone`` after ``after``."""
    local = after.astimezone(zone)
    day = local.date()
    while True:
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if candidate.weekday() == weekday and candidate > local:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)


# -- posting slots ---------------------------------------------------------------


def test_slots_are_added_shown_and_removed(app, client, user):
    page = add_slots(client, [0, 2, 4], "09:00").get_data(as_text=True)
    assert "Added posting slots: Mon 09:00, Wed 09:00, Fri 09:00." in page
    assert add_slots(client, [5], "11:30").status_code == 200
    page = client.get("/account").get_data(as_text=True)
    for text in ("Posting slots", "Monday", "Wednesday", "Friday", "Saturday", "11:30"):
        assert text in page
    assert "Remove Saturday 11:30" in page
    with app.app_context():
        rows = db.session.scalars(select(PostingSlot).order_by(PostingSlot.id)).all()
        assert [(r.weekday, r.minute) for r in rows] == [
            (0, 540),
            (2, 540),
            (4, 540),
            (5, 690),
        ]
        saturday = rows[-1].id
    page = client.post(
        f"/account/slots/{saturday}/remove", follow_redirects=True
    ).get_data(as_text=True)
    assert "Removed the posting slot Sat 11:30." in page
    with app.app_context():
        assert db.session.get(PostingSlot, saturday) is None


@pytest.mark.parametrize(
    ("days", "clock", "message"),
    [
        ([0], "", "Enter the time as HH:MM"),
        ([0], "25:00", "Enter the time as HH:MM"),
        ([], "09:00", "Choose at least one weekday."),
        ([9], "09:00", "Choose weekdays from Monday to Sunday."),
    ],
)
def test_bad_slots_are_refused_with_a_reason(app, client, user, days, clock, message):
    page = add_slots(client, days, clock).get_data(as_text=True)
    assert message in page
    with app.app_context():
        assert db.session.scalars(select(PostingSlot)).all() == []


def test_duplicate_slots_and_too_many_slots_are_refused(app, client, user):
    add_slots(client, [0], "09:00")
    page = add_slots(client, [0], "09:00").get_data(as_text=True)
    assert "Mon 09:00 is already a posting slot." in page
    # Adding Mon and Tue when Mon exists adds Tue only.
    assert "Added posting slots: Tue 09:00." in add_slots(
        client, [0, 1], "09:00"
    ).get_data(as_text=True)
    for hour in range(9):
        add_slots(client, range(7), f"{10 + hour}:00")
    page = add_slots(client, range(7), "06:00").get_data(as_text=True)
    assert "You can have up to 70 posting slots a week; you have 65." in page
    with app.app_context():
        assert len(db.session.scalars(select(PostingSlot)).all()) == 2 + 7 * 9


def test_other_peoples_slots_and_posts_are_404(app, client, user, auth):
    add_slots(client, [0], "09:00")
    post_id = add_post(app, user.id, soon(120))
    with app.app_context():
        slot_id = db.session.scalars(select(PostingSlot.id)).one()
    intruder = app.test_client()
    AuthActions(intruder, auth.world).login("other")
    checks = [
        intruder.post(f"/account/slots/{slot_id}/remove", headers=JSON),
        act(intruder, f"/calendar/post/{post_id}/move", local="2030-01-01T09:00"),
        act(intruder, f"/calendar/post/{post_id}/queue"),
        act(intruder, f"/calendar/post/{post_id}/shift"),
    ]
    assert [r.status_code for r in checks] == [404] * 4
    with app.app_context():
        assert db.session.get(PostingSlot, slot_id) is not None
    anonymous = app.test_client()
    assert act(anonymous, "/calendar/shuffle").status_code == 401
    assert anonymous.get("/calendar").status_code == 302


# -- the queue --------------------------------------------------------------------


def test_add_to_queue_takes_the_next_free_slot_across_the_los_angeles_change(
    app, client, user, freeze
):
    set_user(app, user.id, timezone="America/Los_Angeles", token_expires_at=None)
    add_slots(client, [6], "02:30")  # Sunday 02:30: skipped by the 2027 change
    add_slots(client, [0], "09:00")
    freeze(datetime(2027, 3, 13, 12, tzinfo=UTC))  # Saturday, PST
    first = add_post(app, user.id, datetime(2027, 4, 30, tzinfo=UTC))
    second = add_post(app, user.id, datetime(2027, 4, 30, 1, tzinfo=UTC), "failed")
    resp = act(client, f"/calendar/post/{first}/queue")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    # 02:30 does not exist on Mar 14, 2027: the slot is the jump to 03:00 PDT.
    assert times_of(app, first) == [datetime(2027, 3, 14, 10, tzinfo=UTC)]
    assert body["message"] == "Added to the queue: Mar 14, 2027 03:00 PDT."
    assert body["moves"] == [
        {
            "id": first,
            "before": "2027-04-30T00:00:00+00:00",
            "after": "2027-03-14T10:00:00+00:00",
            "before_label": "Apr 29, 2027 17:00 PDT",
            "after_label": "Mar 14, 2027 03:00 PDT",
        }
    ]
    # The next free slot is Monday 09:00, now on daylight time (16:00 UTC).
    assert act(client, f"/calendar/post/{second}/queue").status_code == 200
    post = post_row(app, second)
    assert post.scheduled_at == datetime(2027, 3, 15, 16, tzinfo=UTC)
    assert post.status == PostStatus.SCHEDULED and post.error_message is None


def test_add_to_queue_in_kolkata(app, client, user, freeze):
    set_user(app, user.id, timezone="Asia/Kolkata", token_expires_at=None)
    add_slots(client, [5], "11:30")
    freeze(datetime(2027, 1, 1, tzinfo=UTC))  # a Friday
    post_id = add_post(app, user.id, datetime(2027, 2, 1, tzinfo=UTC))
    assert act(client, f"/calendar/post/{post_id}/queue").status_code == 200
    assert times_of(app, post_id) == [datetime(2027, 1, 2, 6, tzinfo=UTC)]


def test_a_full_queue_says_so_and_changes_nothing(app, client, user, freeze):
    set_user(app, user.id, token_expires_at=None)
    now = datetime(2027, 1, 4, 12, tzinfo=UTC)  # Monday afternoon
    freeze(now)
    post_id = add_post(app, user.id, datetime(2027, 1, 20, 12, tzinfo=UTC))
    resp = act(client, f"/calendar/post/{post_id}/queue")
    assert resp.status_code == 400
    assert "You have no posting slots yet" in resp.get_json()["error"]
    add_slots(client, [0], "09:00")
    monday = next_local(now, PARIS, 0, 9)
    while monday <= now + timedelta(days=50):
        add_post(app, user.id, monday)
        monday += timedelta(days=7)
    resp = act(client, f"/calendar/post/{post_id}/queue")
    assert resp.status_code == 400
    assert resp.get_json()["error"].startswith(
        "Every posting slot in the next 50 days is taken (until Feb 23, 2027"
    )
    assert times_of(app, post_id) == [datetime(2027, 1, 20, 12, tzinfo=UTC)]


def test_a_queue_cut_short_by_the_login_expiry_says_so(app, client, user, freeze):
    now = datetime(2027, 1, 4, 12, tzinfo=UTC)
    freeze(now)
    set_user(app, user.id, token_expires_at=now + timedelta(days=3))
    add_slots(client, [6], "09:00")
    post_id = add_post(app, user.id, now + timedelta(hours=1))
    resp = act(client, f"/calendar/post/{post_id}/queue")
    assert resp.status_code == 400
    assert "until your Instagram login expires" in resp.get_json()["error"]


def test_shuffle_deals_the_same_times_out_again_and_undo_restores_them(
    app, client, user
):
    times = [soon(60 * 24 * d) for d in (1, 2, 3, 4)]
    ids = [add_post(app, user.id, when) for when in times]
    resp = act(client, "/calendar/shuffle")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    after = times_of(app, *ids)
    assert sorted(after) == times and after != times
    assert body["message"] == f"Shuffled {len(body['moves'])} posts."
    assert act(client, "/calendar/undo", undo=body["undo"]).get_json() == {
        "ok": True,
        "message": "Undone.",
        "restored": [m["id"] for m in body["moves"]],
    }
    assert times_of(app, *ids) == times


def test_shuffle_needs_two_posts(app, client, user):
    add_post(app, user.id, soon(600))
    resp = act(client, "/calendar/shuffle")
    assert resp.status_code == 400
    assert resp.get_json()["error"] == (
        "Shuffling needs at least two scheduled posts ahead."
    )


def test_one_slot_later_moves_this_post_and_every_later_one(app, client, user, freeze):
    set_user(app, user.id, token_expires_at=None)
    now = datetime(2027, 1, 3, 12, tzinfo=UTC)  # Sunday
    freeze(now)
    add_slots(client, [0, 2, 4], "09:00")
    mon, wed, fri = (next_local(now, PARIS, d, 9) for d in (0, 2, 4))
    next_mon = mon + timedelta(days=7)
    ids = [add_post(app, user.id, when) for when in (mon, wed, fri)]
    resp = act(client, f"/calendar/post/{ids[1]}/shift")
    assert resp.status_code == 200, resp.get_json()
    assert times_of(app, *ids) == [mon, fri, next_mon]
    assert resp.get_json()["message"] == (
        "Moved 2 posts one slot later; this one is now at Jan 08, 2027 09:00 CET."
    )
    act(client, "/calendar/undo", undo=resp.get_json()["undo"])
    assert times_of(app, *ids) == [mon, wed, fri]


def test_one_slot_later_without_room_moves_nothing(app, client, user, freeze):
    set_user(app, user.id, token_expires_at=None)
    now = datetime(2027, 1, 3, 12, tzinfo=UTC)
    freeze(now)
    add_slots(client, [0], "09:00")
    last = next_local(now, PARIS, 0, 9) + timedelta(days=49)
    ids = [
        add_post(app, user.id, last - timedelta(days=7)),
        add_post(app, user.id, last),
    ]
    resp = act(client, f"/calendar/post/{ids[0]}/shift")
    assert resp.status_code == 400
    assert (
        "There is no posting slot left for the post of Feb 22, 2027"
        in (resp.get_json()["error"])
    )
    assert times_of(app, *ids) == [last - timedelta(days=7), last]
    published = add_post(app, user.id, soon(60), status=PostStatus.PUBLISHED)
    assert act(client, f"/calendar/post/{published}/shift").status_code == 409


# -- moving on the calendar -----------------------------------------------------------


def test_move_to_a_local_time_and_undo_puts_a_failed_post_back_exactly(
    app, client, user
):
    was = soon(-90)
    post_id = add_post(app, user.id, was, status=PostStatus.FAILED)
    target = (datetime.now(PARIS) + timedelta(days=3)).replace(
        hour=10, minute=15, second=0, microsecond=0
    )
    resp = act(
        client, f"/calendar/post/{post_id}/move", local=f"{target:%Y-%m-%dT%H:%M}"
    )
    assert resp.status_code == 200, resp.get_json()
    moved = post_row(app, post_id)
    assert moved.status == PostStatus.SCHEDULED
    assert moved.scheduled_at == target.astimezone(UTC)
    assert moved.next_attempt_at == target.astimezone(UTC)
    undo = act(client, "/calendar/undo", undo=resp.get_json()["undo"])
    assert undo.status_code == 200
    back = post_row(app, post_id)
    assert (back.status, back.scheduled_at, back.next_attempt_at) == (
        PostStatus.FAILED,
        was,
        None,
    )
    assert (back.error_message, back.error_code, back.error_subcode) == (
        "Instagram said no.",
        9007,
        2207027,
    )


@pytest.mark.parametrize(
    ("local", "status", "message"),
    [
        ("2020-01-01T09:00", 400, "Pick a time in the future"),
        ("2099-01-01T09:00", 400, "at most 50 days ahead"),
        ("yesterday", 400, "Enter a date and time like"),
        (None, 400, "Send the new time as local"),
    ],
)
def test_moves_into_the_past_or_past_the_limit_are_refused(
    app, client, user, local, status, message
):
    when = soon(120)
    post_id = add_post(app, user.id, when)
    resp = act(client, f"/calendar/post/{post_id}/move", local=local)
    assert resp.status_code == status
    assert message in resp.get_json()["error"]
    assert resp.get_json()["ok"] is False
    assert times_of(app, post_id) == [when]


def test_a_move_into_the_spring_forward_gap_is_refused(app, client, user, freeze):
    set_user(app, user.id, timezone="Europe/Berlin", token_expires_at=None)
    freeze(datetime(2027, 3, 20, tzinfo=UTC))
    post_id = add_post(app, user.id, datetime(2027, 3, 27, 8, tzinfo=UTC))
    resp = act(client, f"/calendar/post/{post_id}/move", local="2027-03-28T02:30")
    assert resp.status_code == 400
    assert "does not exist in Europe/Berlin" in resp.get_json()["error"]


def test_published_posts_cannot_be_moved(app, client, user):
    post_id = add_post(app, user.id, soon(-60), status=PostStatus.PUBLISHED)
    target = f"{datetime.now(PARIS) + timedelta(days=2):%Y-%m-%dT%H:%M}"
    resp = act(client, f"/calendar/post/{post_id}/move", local=target)
    assert resp.status_code == 409
    assert (
        resp.get_json()["error"] == "This post is being published or is already live."
    )


def test_a_move_near_another_post_warns_and_goes_ahead_when_confirmed(
    app, client, user
):
    other = soon(60 * 24 * 2)
    post_id = add_post(app, user.id, soon(60 * 24 * 5))
    add_post(app, user.id, other)
    local = f"{(other + timedelta(minutes=20)).astimezone(PARIS):%Y-%m-%dT%H:%M}"
    resp = act(client, f"/calendar/post/{post_id}/move", local=local)
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["ok"] is False and body["confirm"] is True
    assert body["warning"].startswith("Two posts would go out within 30 minutes")
    assert body["warning"].endswith("Go ahead anyway?")
    assert times_of(app, post_id) == [soon(60 * 24 * 5)]
    resp = act(client, f"/calendar/post/{post_id}/move", local=local, confirm=True)
    assert resp.status_code == 200
    assert times_of(app, post_id) == [other + timedelta(minutes=20)]


def test_the_same_image_twice_warns(app, client, user):
    photo = image_bytes(1200, 1200, color=(10, 120, 200))
    for days in (2, 6):
        assert create_post(client, when=soon(60 * 24 * days), image=photo).status_code
    with app.app_context():
        first, second = db.session.scalars(select(Post).order_by(Post.id)).all()
        assert first.image_sha256 == second.image_sha256 is not None
        # Posts from before the hash was kept get it from their file.
        first.image_sha256 = None
        db.session.commit()
        second_id = second.id
    local = f"{datetime.now(PARIS) + timedelta(days=4):%Y-%m-%dT%H:%M}"
    resp = act(client, f"/calendar/post/{second_id}/move", local=local)
    assert resp.status_code == 409
    assert resp.get_json()["warning"].startswith("This image is already scheduled for")
    resp = act(client, f"/calendar/post/{second_id}/move", local=local, confirm="1")
    assert resp.status_code == 200


def test_undo_refuses_stale_forged_and_foreign_changes(app, client, user, auth):
    post_id = add_post(app, user.id, soon(60 * 24))
    day = datetime.now(PARIS) + timedelta(days=3)
    first = act(client, f"/calendar/post/{post_id}/move", local=f"{day:%Y-%m-%dT09:00}")
    token = first.get_json()["undo"]
    intruder = app.test_client()
    AuthActions(intruder, auth.world).login("other")
    assert act(intruder, "/calendar/undo", undo=token).get_json() == {
        "ok": False,
        "error": "That change cannot be undone.",
    }
    assert act(client, "/calendar/undo", undo=token[:-2] + "xx").status_code == 400
    assert act(client, "/calendar/undo").get_json()["error"] == "Nothing to undo."
    act(client, f"/calendar/post/{post_id}/move", local=f"{day:%Y-%m-%dT11:00}")
    resp = act(client, "/calendar/undo", undo=token)
    assert resp.status_code == 409
    assert resp.get_json()["error"] == "The schedule changed since; nothing was undone."
    assert post_row(app, post_id).scheduled_at.astimezone(PARIS).hour == 11


def test_a_calendar_move_moves_the_publishing_job(all_jobs_app, auth):
    app = all_jobs_app
    client = auth.client = app.test_client()
    auth.login()
    when = soon(60 * 24)  # once: two calls may straddle a minute
    assert create_post(client, when=when).status_code == 200
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    job = publisher.scheduler.get_job(f"post-{post_id}")
    assert job.next_run_time == when
    target = (soon(60 * 24 * 3)).astimezone(PARIS)
    resp = act(
        client, f"/calendar/post/{post_id}/move", local=f"{target:%Y-%m-%dT%H:%M}"
    )
    assert resp.status_code == 200, resp.get_json()
    assert publisher.scheduler.get_job(f"post-{post_id}").next_run_time == target
    act(client, "/calendar/undo", undo=resp.get_json()["undo"])
    assert publisher.scheduler.get_job(f"post-{post_id}").next_run_time == when


# -- the calendar page ---------------------------------------------------------


def test_calendar_shows_the_month_and_week_in_the_users_zone(app, client, user, freeze):
    set_user(app, user.id, timezone="America/Los_Angeles", token_expires_at=None)
    freeze(datetime(2027, 1, 4, 12, tzinfo=UTC))
    # 06:30 UTC on Jan 12 is still Jan 11 in Los Angeles.
    add_post(
        app, user.id, datetime(2027, 1, 12, 6, 30, tzinfo=UTC), caption="Late\nmore"
    )
    add_post(
        app, user.id, datetime(2027, 1, 3, 18, tzinfo=UTC), "failed", caption="Oops"
    )
    add_post(app, user.id, datetime(2027, 2, 2, 18, tzinfo=UTC), caption="February")
    page = client.get("/calendar").get_data(as_text=True)
    assert "January 2027" in page and "Times in America/Los_Angeles." in page
    assert 'data-local="2027-01-11T22:30"' in page
    assert ">Late<" in page and "more" not in page
    assert 'data-status="failed"' in page and ">Failed<" in page
    assert "February" not in page.split('<section class="cal-agenda"')[1]
    week = client.get("/calendar?view=week&date=2027-01-11").get_data(as_text=True)
    assert "Jan 11 – Jan 17, 2027" in week
    assert 'data-day="2027-01-11" data-hour="22"' in week
    assert "Oops" not in week
    nav = client.get("/").get_data(as_text=True)
    assert 'href="/calendar">Calendar</a>' in nav


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("view=year", "Choose the month or the week view."),
        ("date=2027-13-01", "Enter the date as YYYY-MM-DD"),
        ("date=0001-01-01", "Pick a date between 1971 and 9998."),
    ],
)
def test_calendar_refuses_nonsense_views(client, user, query, message):
    resp = client.get(f"/calendar?{query}")
    assert resp.status_code == 400
    assert message in resp.get_data(as_text=True)
