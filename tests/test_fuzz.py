"""Hypothesis throws random and malformed input at every form and JSON endpoint:
never a 500, never a half-written row or an orphan file."""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy import select

from models import Post
from models import User
from models import db
from support import create_post
from support import image_bytes

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
