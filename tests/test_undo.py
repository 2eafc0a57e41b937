"""Moving posts on the grid says what moved, and Undo puts it back exactly:
dates and scheduler jobs, only for the person's own posts, only when nothing
changed since, and never into the past."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import db
from models import now_utc
from ospost.scheduler import publisher
from support import AuthActions
from support import create_post
from support import local_input
from support import soon

JSON = {"Accept": "application/json"}


def make_posts(app, client, minutes) -> list[Post]:
    for m in minutes:
        resp = create_post(client, when=soon(m), caption=f"p{m}", alt_text=f"a{m}")
        assert resp.status_code == 200, resp.get_json()
    return posts(app)


def posts(app) -> list[Post]:
    with app.app_context():
        rows = db.session.scalars(select(Post).order_by(Post.id)).all()
        db.session.expunge_all()
        return list(rows)


def dates(app) -> dict[int, object]:
    return {p.id: p.scheduled_at for p in posts(app)}


def undo_body(moved: list[dict]) -> dict:
    """What the page sends for Undo: each moved post back to its time before."""
    return {
        "posts": [
            {"id": m["id"], "scheduled_at": m["before"], "updated_at": m["updated_at"]}
            for m in moved
        ]
    }


def test_a_drag_reports_every_moved_post_and_undo_restores_them(app, client, user):
    p1, p2, p3, p4 = make_posts(app, client, [60, 120, 180, 240])
    before = dates(app)
    # Grid order is latest first (p4 p3 p2 p1); drag p1 to the front: it takes
    # p4's time and p4, p3, p2 each shift one time earlier.
    resp = client.post("/", json={"order": [p1.id, p4.id, p3.id, p2.id]})
    assert resp.status_code == 200
    moved = resp.get_json()["moved"]
    assert {m["id"] for m in moved} == {p1.id, p2.id, p3.id, p4.id}
    after = dates(app)
    for m in moved:
        assert m["before"] == before[m["id"]].isoformat()
        assert m["after"] == after[m["id"]].isoformat()
        assert m["before_label"].endswith(("CET", "CEST"))  # the person's zone
        assert m["thumbnail"].startswith("/uploads/")
    by_id = {m["id"]: m for m in moved}
    assert by_id[p1.id]["label"] == "“a60”"
    assert by_id[p1.id]["after"] == before[p4.id].isoformat()

    resp = client.post("/schedule/restore", json=undo_body(moved))
    assert resp.status_code == 200, resp.get_json()
    assert dates(app) == before
    # Undo answers like a move, so the page can show what it put back.
    assert {m["id"] for m in resp.get_json()["moved"]} == set(by_id)


def test_undo_restores_the_scheduler_jobs(all_jobs_app, auth):
    app = all_jobs_app
    client = app.test_client()
    AuthActions(client, auth.world).login()
    a, b, c = make_posts(app, client, [300, 600, 900])
    before = dates(app)

    def job_times():
        return {
            p.id: publisher.scheduler.get_job(f"post-{p.id}").next_run_time
            for p in (a, b, c)
        }

    assert job_times() == before
    resp = client.post(
        f"/post/{c.id}/move", data={"direction": "earlier"}, headers=JSON
    )
    moved = resp.get_json()["moved"]
    assert {m["id"] for m in moved} == {b.id, c.id}
    assert job_times() == dates(app) != before
    assert client.post("/schedule/restore", json=undo_body(moved)).status_code == 200
    assert job_times() == before == dates(app)


def test_keyboard_moves_report_both_posts_and_nothing_at_the_edge(app, client, user):
    p1, p2 = make_posts(app, client, [60, 120])
    before = dates(app)
    resp = client.post(
        f"/post/{p2.id}/move", data={"direction": "earlier"}, headers=JSON
    )
    moved = {m["id"]: m for m in resp.get_json()["moved"]}
    assert moved[p2.id]["before"] == before[p2.id].isoformat()
    assert moved[p2.id]["after"] == before[p1.id].isoformat()
    assert moved[p1.id]["after"] == before[p2.id].isoformat()
    # Already the earliest: nothing moves, and the answer says so.
    resp = client.post(
        f"/post/{p2.id}/move", data={"direction": "earlier"}, headers=JSON
    )
    assert resp.get_json() == {"ok": True, "moved": []}


def test_a_move_without_javascript_says_what_moved(app, client, user):
    p1, p2 = make_posts(app, client, [60, 120])
    client.get("/")  # show the "New post scheduled" messages
    resp = client.post(f"/post/{p2.id}/move", data={"direction": "earlier"})
    assert resp.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Moved 2 posts: “a60” " in page and "; “a120” " in page and "→" in page


def test_undo_refuses_another_persons_posts(app, client, user, auth):
    (p1, p2) = make_posts(app, client, [60, 120])
    moved = client.post("/", json={"order": [p1.id, p2.id]}).get_json()["moved"]
    after = dates(app)
    intruder = app.test_client()
    AuthActions(intruder, auth.world).login("other")
    resp = intruder.post("/schedule/restore", json=undo_body(moved))
    assert resp.status_code == 404
    assert dates(app) == after


@pytest.mark.parametrize("change", ["edited", "moved again", "publishing", "failed"])
def test_undo_refuses_posts_changed_since_and_changes_nothing(
    app, client, user, change
):
    p1, p2, p3 = make_posts(app, client, [60, 120, 180])
    moved = client.post("/", json={"order": [p1.id, p3.id, p2.id]}).get_json()["moved"]
    if change == "edited":
        # Saving the post again counts, even with the same date.
        when = local_input(dates(app)[p1.id], "Europe/Paris")
        resp = client.post(
            f"/post/{p1.id}/edit",
            data={"caption": "new", "alt_text": "a60", "date": when},
            headers=JSON,
        )
        assert resp.status_code == 200, resp.get_json()
    elif change == "moved again":
        assert (
            client.post("/", json={"order": [p3.id, p1.id, p2.id]}).status_code == 200
        )
    else:
        status = PostStatus.PUBLISHING if change == "publishing" else PostStatus.FAILED
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(update(Post).where(Post.id == p1.id).values(status=status))
    current = dates(app)
    resp = client.post("/schedule/restore", json=undo_body(moved))
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["ok"] is False
    assert "“a60”" in body["error"] and "changed since the move" in body["error"]
    assert dates(app) == current


def test_undo_never_puts_a_post_in_the_past(app, client, user):
    p1, p2 = make_posts(app, client, [60, 120])
    moved = client.post("/", json={"order": [p1.id, p2.id]}).get_json()["moved"]
    after = dates(app)
    body = undo_body(moved)
    # As if the page had been left open until p1's old time went by.
    past = (now_utc() - timedelta(minutes=1)).isoformat()
    body["posts"][0]["scheduled_at"] = past
    resp = client.post("/schedule/restore", json=body)
    assert resp.status_code == 409
    assert "Pick a time in the future" in resp.get_json()["error"]
    assert dates(app) == after


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"posts": []},
        {"posts": "1"},
        {"posts": [{"id": "1", "scheduled_at": "x", "updated_at": "y"}]},
        {"posts": [{"id": True, "scheduled_at": "2030-01-01T00:00:00+00:00"}]},
        # Times without an offset are ambiguous: refused, never guessed.
        {
            "posts": [
                {
                    "id": 1,
                    "scheduled_at": "2030-01-01T00:00:00",
                    "updated_at": "2030-01-01T00:00:00",
                }
            ]
        },
        # The same post twice.
        {
            "posts": [
                {
                    "id": 1,
                    "scheduled_at": "2030-01-01T00:00:00+00:00",
                    "updated_at": "2030-01-01T00:00:00+00:00",
                }
            ]
            * 2
        },
    ],
)
def test_malformed_undo_is_a_400(client, user, body):
    resp = (
        client.post("/schedule/restore", json=body)
        if body is not None
        else client.post("/schedule/restore", data="x", headers=JSON)
    )
    assert resp.status_code == 400
    assert resp.get_json()["ok"] is False


def test_undo_of_a_missing_post_is_a_404(client, user):
    resp = client.post(
        "/schedule/restore",
        json={
            "posts": [
                {
                    "id": 424242,
                    "scheduled_at": "2030-01-01T00:00:00+00:00",
                    "updated_at": "2030-01-01T00:00:00+00:00",
                }
            ]
        },
    )
    assert resp.status_code == 404
