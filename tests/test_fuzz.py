"""Hypothesis throws random and malformed input at every form and JSON endpoint,
nesting bombs included, and runs requests concurrently: never a 500, never a
half-written row or an orphan file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import threading
from collections import Counter

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy import select

import simulator
from models import Post
from models import User
from models import db
from support import create_post
from support import image_bytes
from support import soon

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON_HEADERS = {"Accept": "application/json"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
form_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        ["", " ", "2026-13-45T99:99", "9999-12-31T23:59", "0001-01-01T00:00",
         "2026-12-01T09:30+05:00", "\x00", "%00", "{{7*7}}", "' OR 1=1 --"]
    ),
)  # fmt: skip
files = st.one_of(
    st.none(),
    st.binary(max_size=2000),
    st.sampled_from(
        [
            image_bytes(1000, 1000),
            image_bytes(2000, 500),
            image_bytes(100, 100, fmt="PNG"),
        ]
    ),
)


def counts(app, user) -> tuple[int, int]:
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(Post))
    folder = app.extensions["media_store"].user_dir(user.ig_account_id)
    on_disk = len(list(folder.iterdir())) if folder.exists() else 0
    return rows, on_disk


def check_sane(resp) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    if resp.mimetype == "application/json":
        body = resp.get_json()
        assert isinstance(body, dict)
        if body.get("ok") is False:
            assert isinstance(body["error"], str) and body["error"]


@FUZZ
@given(caption=form_text, alt=form_text, date=form_text, image=files)
def test_add_post_survives_anything(app, client, user, caption, alt, date, image):
    before = counts(app, user)
    data = {"caption": caption, "alt_text": alt, "date": date}
    if image is not None:
        data["image"] = (io.BytesIO(image), "x.jpg")
    resp = client.post(
        "/post/add", data=data, content_type="multipart/form-data", headers=JSON_HEADERS
    )
    check_sane(resp)
    rows, on_disk = counts(app, user)
    if resp.status_code == 200:
        assert (rows, on_disk) == (before[0] + 1, before[1] + 2)
    else:
        assert (rows, on_disk) == before


@FUZZ
@given(caption=form_text, date=form_text, image=files)
def test_edit_post_survives_anything(app, client, user, caption, date, image):
    if counts(app, user)[0] == 0:
        assert create_post(client).status_code == 200
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).first()
    before = counts(app, user)
    data = {"caption": caption, "date": date}
    if image is not None:
        data["image"] = (io.BytesIO(image), "x.jpg")
    resp = client.post(
        f"/post/{post_id}/edit",
        data=data,
        content_type="multipart/form-data",
        headers=JSON_HEADERS,
    )
    check_sane(resp)
    assert counts(app, user) == before  # an edit never adds or leaks files


@FUZZ
@given(body=json_values)
def test_reorder_survives_any_json(app, client, user, body):
    resp = client.post("/", json=body)
    check_sane(resp)
    assert resp.status_code in (200, 400, 409)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_reorder_survives_bad_json_bytes(client, user, raw):
    resp = client.post(
        "/", data=raw, content_type="application/json", headers=JSON_HEADERS
    )
    check_sane(resp)


@FUZZ
@given(body=json_values)
def test_login_survives_any_json(app, client, body):
    resp = client.post("/login", data=json.dumps(body), content_type="application/json")
    check_sane(resp)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


@FUZZ
@given(direction=form_text, post_id=st.integers(min_value=0, max_value=2**31))
def test_move_and_actions_survive_anything(client, user, direction, post_id):
    for path in (f"/post/{post_id}/move", f"/post/{post_id}/publish"):
        check_sane(
            client.post(path, data={"direction": direction}, headers=JSON_HEADERS)
        )
    check_sane(client.get(f"/post/{post_id}/status"))


@FUZZ
@given(tz=form_text, signed=form_text)
def test_account_and_callbacks_survive_anything(client, user, tz, signed):
    check_sane(client.post("/account/timezone", data={"timezone": tz}))
    for path in ("/facebook/data-deletion", "/facebook/deauthorize"):
        resp = client.post(path, data={"signed_request": signed})
        assert resp.status_code == 400


# -- nesting bombs -------------------------------------------------------------


@st.composite
def nested_json(draw) -> bytes:
    """A JSON body nested up to 200,000 levels, closed or not, maybe under a key."""
    # At least two levels: {"order": [1]} is a well-formed (if stale) reorder.
    depth = draw(st.integers(min_value=2, max_value=200_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"k":', b"}")]))
    closed = draw(st.sampled_from([depth, depth // 2, 0]))
    bomb = opener * depth + b"1" + closer * closed
    key = draw(st.sampled_from(["", "order", "accessToken", "authResponse", "next"]))
    return b'{"%s": %s}' % (key.encode(), bomb) if key else bomb


@FUZZ
@given(body=nested_json())
def test_nesting_bombs_get_a_400(app, client, user, world, body):
    graph_calls = len(world.calls())
    for path in ("/", "/login"):
        resp = client.post(path, data=body, content_type="application/json")
        check_sane(resp)
        assert resp.status_code == 400
    assert len(world.calls()) == graph_calls  # refused before Meta is asked
    payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
    for secret in (simulator.DEFAULT_APP_SECRET, "not-the-secret"):
        digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        for path in ("/facebook/data-deletion", "/facebook/deauthorize"):
            resp = client.post(path, data={"signed_request": f"{signature}.{payload}"})
            assert resp.status_code == 400


# -- concurrency ---------------------------------------------------------------


def run_together(calls) -> list:
    """Run each zero-argument call in its own thread, started at the same moment."""
    start = threading.Barrier(len(calls), timeout=30)
    results = [None] * len(calls)

    def run(i, call):
        start.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@settings(FUZZ, max_examples=12)
@given(browsers=st.integers(min_value=2, max_value=8))
def test_concurrent_first_logins_make_one_account(app, world, browsers):
    person = world.add_user("Crowd", [{"name": "Page", "ig_username": "crowd"}])
    ig_account_id = person["pages"][0]["ig_user_id"]
    tokens = [
        world.issue_token(person["fb_user_id"])["accessToken"] for _ in range(browsers)
    ]

    def log_in(token):
        return lambda: app.test_client().post("/login", json={"accessToken": token})

    responses = run_together([log_in(token) for token in tokens])
    assert [r.status_code for r in responses] == [200] * browsers
    with app.app_context():
        rows = select(func.count()).where(User.ig_account_id == ig_account_id)
        assert db.session.scalar(rows) == 1


schedule_ops = st.lists(
    st.one_of(
        st.tuples(st.just("reorder"), st.randoms(use_true_random=False)),
        st.tuples(st.sampled_from(["earlier", "later"]), st.integers(0, 3)),
    ),
    min_size=2,
    max_size=6,
)


@settings(FUZZ, max_examples=15)
@given(ops=schedule_ops)
def test_concurrent_reorders_and_moves_keep_every_date(app, client, user, ops):
    if counts(app, user)[0] == 0:
        for minutes in (60, 120, 180, 240):
            assert create_post(client, when=soon(minutes)).status_code == 200
    with app.app_context():
        posts = db.session.scalars(select(Post).order_by(Post.id)).all()
        ids = [p.id for p in posts]
        dates_before = Counter(p.scheduled_at for p in posts)
    cookie = client.get_cookie(simulator_cookie(app)).value

    def request_for(op):
        browser = app.test_client()
        browser.set_cookie(simulator_cookie(app), cookie)
        if op[0] == "reorder":
            order = ids[:]
            op[1].shuffle(order)
            return lambda: browser.post("/", json={"order": order})
        return lambda: browser.post(
            f"/post/{ids[op[1]]}/move", data={"direction": op[0]}, headers=JSON_HEADERS
        )

    for resp in run_together([request_for(op) for op in ops]):
        check_sane(resp)
        assert resp.status_code in (200, 409)
    with app.app_context():
        dates_after = Counter(db.session.scalars(select(Post.scheduled_at)))
    assert dates_after == dates_before  # dates are swapped, never lost or doubled


def simulator_cookie(app) -> str:
    return app.config["SESSION_COOKIE_NAME"]
