"""Reels and Stories end to end: the composer's upload route, the background
conversion, and the publishing engine against the Graph API simulator (served
over HTTP, with a live app for Meta's crawler to fetch the staged files)."""

from __future__ import annotations

import io
import re
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import User
from models import db
from ospost.reel_models import PostVideo
from ospost.reels import conversions
from ospost.scheduler import publisher
from ospost.storage import staged_name
from support import AuthActions
from support import image_bytes
from support import publish_now
from support import reel_form
from support import send_form
from support import settled
from support import soon
from support import video_status
from support import wait_for
from videoclips import make_clip

IG = "17841400000000001"
VIDEOS = PostVideo.__table__


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Short PyAV-made clips: a landscape phone video, one too short, one
    rotated without sound."""
    folder = tmp_path_factory.mktemp("reel-clips")
    return {
        "wide": make_clip(folder / "wide.mp4", size=(320, 180), seconds=3.2),
        "short": make_clip(folder / "short.mp4", seconds=1.0),
        "rotated": make_clip(
            folder / "rot.mov", size=(180, 320), rotation=90, audio=None, seconds=3.2
        ),
    }


@pytest.fixture
def env(scheduled_app, auth, live_server):
    client = scheduled_app.test_client()
    AuthActions(client, auth.world).login()
    with scheduled_app.app_context():
        user_id = db.session.scalars(select(User.id)).one()
    return scheduled_app, client, user_id


def upload(client, kind, media: bytes | None, name="clip.mp4", **fields):
    return send_form(client, f"/post/add/{kind}", reel_form(media, name, **fields))


def only_post(app) -> Post:
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        post.media, post.video  # noqa: B018  (load before detaching)
        db.session.expunge_all()
        return post


video_ready = video_status
post_now = publish_now


def user_files(app) -> list[str]:
    """The user's stored files, whichever backend keeps them."""
    return app.extensions["media_store"].names(IG)


def staged_copies(app) -> list[str]:
    return sorted(b.key for b in app.extensions["media_store"].blobs.list("tmp/"))


def work_files(app) -> list[str]:
    """What the video jobs left in their scratch folder (nothing, ever)."""
    root = app.config["VIDEO_WORK_FOLDER"]
    return sorted(str(p) for p in Path(root).rglob("*")) if Path(root).exists() else []


@pytest.mark.storage
def test_a_reel_is_converted_then_published_once_with_its_cover_and_options(
    env, world, clips
):
    app, client, _ = env
    resp = upload(
        client,
        "reel",
        clips["wide"].read_bytes(),
        caption="Harbour reel #ospost",
        collaborators="@jane.doe",
        first_comment="Shot on a phone",
        thumb_offset="1500",
        share_to_feed="1",
        fit="crop",
    )
    assert resp.status_code == 200, resp.get_json()
    post = only_post(app)
    assert resp.get_json()["redirect"] == f"/post/{post.id}/edit"
    assert post.post_type == "reel" and post.media[0].thumbnail
    assert post.video.source in user_files(app)  # kept as sent until converted
    assert video_ready(app, post.id) == "ready"
    with app.app_context():
        video = db.session.scalars(select(PostVideo)).one()
    assert video.source is None and video.filename in user_files(app)
    # The converted video, cover and tile (the upload and the first cover go
    # just after the row says ready).
    wait_for(lambda: len(user_files(app)) == 3, describe=lambda: user_files(app))
    assert app.extensions["media_store"].blobs.size(f"uploads/{IG}/{video.filename}")
    status = client.get(f"/post/{post.id}/video").get_json()
    assert status["status"] == "ready" and status["progress"] == 1.0
    assert any("9:16" in change for change in status["changes"]), status["changes"]
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    assert done.permalink.startswith("https://www.instagram.com/reel/")
    (record,) = world.published()
    assert record["media_product_type"] == "REELS"
    assert record["media_type"] == "VIDEO"
    video = record["video"]
    assert video["share_to_feed"] is True
    assert 1000 <= video["thumb_offset"] <= 1600
    assert video["codec"] == "h264" and video["problem"] is None
    assert abs(video["width"] / video["height"] - 9 / 16) < 0.02  # cropped to 9:16
    assert video["height"] == 182  # the middle of a 180 px tall landscape video
    assert record["collaborators"] == ["jane.doe"]
    creates = [c for c in world.calls() if c["endpoint"] == "create"]
    assert len(creates) == 1  # exactly once
    assert [c["text"] for c in world.comments()] == ["Shot on a phone"]
    # Published: the upload, the converted video and the staged copy are gone;
    # only the grid tile stays.
    assert user_files(app) == [done.media[0].thumbnail]
    assert staged_copies(app) == []
    assert work_files(app) == []


def test_a_story_from_a_photo_publishes_as_a_story(env, world):
    app, client, _ = env
    resp = upload(client, "story", image_bytes(1080, 1920), name="story.jpg")
    assert resp.status_code == 200, resp.get_json()
    post = only_post(app)
    assert post.post_type == "story" and post.video is None and post.caption == ""
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    (record,) = world.published()
    assert (record["media_product_type"], record["media_type"]) == ("STORY", "IMAGE")
    assert (record["width"], record["height"]) == (1080, 1920)
    assert done.permalink.startswith("https://www.instagram.com/stories/")


@pytest.mark.storage
def test_a_story_from_a_rotated_silent_video(env, world, clips):
    app, client, _ = env
    resp = upload(client, "story", clips["rotated"].read_bytes(), name="clip.mov")
    assert resp.status_code == 200, resp.get_json()
    post = only_post(app)
    assert video_ready(app, post.id) == "ready"
    post_now(app, post.id)
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    (record,) = world.published()
    assert record["media_product_type"] == "STORY"
    assert record["video"]["problem"] is None
    assert staged_copies(app) == [] and work_files(app) == []


def test_a_post_due_while_its_video_converts_waits_and_says_so(env, world, clips):
    app, client, _ = env
    upload(client, "reel", clips["wide"].read_bytes())
    post = only_post(app)
    video_ready(app, post.id)
    with app.app_context():  # as if the conversion were still running elsewhere
        db.session.execute(
            update(VIDEOS)
            .where(VIDEOS.c.post_id == post.id)
            .values(
                status="converting", progress=0.4, job_owner="other", job_until=soon()
            )
        )
        db.session.commit()
    post_now(app, post.id)

    def waiting():
        with app.app_context():
            return db.session.get(Post, post.id).waiting_reason

    assert wait_for(waiting).startswith(
        "Waiting for the video to finish converting (40%)"
    )
    assert world.calls() == [] or all(c["endpoint"] != "create" for c in world.calls())
    with app.app_context():
        db.session.execute(
            update(VIDEOS).where(VIDEOS.c.post_id == post.id).values(status="ready")
        )
        db.session.commit()
    publisher.wake(post.id)
    assert settled(app, post.id).status == PostStatus.PUBLISHED


def test_meta_refusing_the_video_fails_the_post_with_metas_words(env, world, clips):
    app, client, _ = env
    world.add_fault(
        {"endpoint": "create", "media_type": "REELS"},
        {
            "container_status": "ERROR",
            "status": "Error: Media upload has failed with error code 2207026",
        },
    )
    upload(client, "reel", clips["wide"].read_bytes())
    post = only_post(app)
    video_ready(app, post.id)
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.FAILED
    assert done.error_message == (
        "Instagram could not process the Reel: "
        "Error: Media upload has failed with error code 2207026."
    )
    assert len([c for c in world.calls() if c["endpoint"] == "create"]) == 1


def test_a_video_meta_never_finishes_is_given_up_after_the_container_expiry(
    make_app, auth, world, clips
):
    app = make_app(start_scheduler=True, PUBLISH_VIDEO_CONTAINER_HOURS=1 / 3600)
    from support import serve_app

    with serve_app(app):
        client = app.test_client()
        AuthActions(client, world).login()
        world.configure(video_processing_seconds=3600)
        upload(client, "reel", clips["wide"].read_bytes())
        post = only_post(app)
        video_ready(app, post.id)
        post_now(app, post.id)
        done = settled(app, post.id)
    assert done.status == PostStatus.FAILED
    assert (
        done.error_message.startswith(
            "Instagram was still processing the video after 0.000277778 hours"
        )
        or "still processing the video" in done.error_message
    )
    checks = [c for c in world.calls() if c["endpoint"] == "status"]
    assert len(checks) >= 2  # polled with growing gaps until then


@pytest.mark.storage
def test_a_conversion_left_by_a_dead_process_is_resumed(env, clips):
    app, client, _ = env
    upload(client, "reel", clips["wide"].read_bytes())
    post = only_post(app)
    video_ready(app, post.id)
    store = app.extensions["media_store"]
    source = "0" * 32 + ".upload"
    with app.app_context():  # back to how a crash mid-conversion leaves it
        video = db.session.scalars(select(PostVideo)).one()
        # In the store only: another host's work folder is not ours to read.
        store.blobs.put(store.key(IG, source), clips["wide"].read_bytes())
        video.source, video.filename = source, None
        video.status, video.job_owner = "converting", "dead-host:1:x"
        video.job_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    # The scheduler's own resume job (every 30 s) may get there first.
    assert conversions.resume() in ([post.id], [])
    assert video_ready(app, post.id) == "ready"
    wait_for(lambda: not store.exists(IG, source))  # removed just after "ready"
    with app.app_context():
        video = db.session.scalars(select(PostVideo)).one()
    assert store.exists(IG, video.filename)
    wait_for(lambda: work_files(app) == [])


@pytest.mark.storage
def test_a_conversion_whose_upload_is_gone_fails_and_leaves_no_work_files(env, clips):
    app, client, _ = env
    upload(client, "reel", clips["wide"].read_bytes())
    post = only_post(app)
    video_ready(app, post.id)
    with app.app_context():
        video = db.session.scalars(select(PostVideo)).one()
        video.source, video.filename = "1" * 32 + ".upload", None
        video.status, video.job_owner, video.job_until = "converting", None, None
        db.session.commit()
    conversions.run(post.id)
    assert video_ready(app, post.id) == "failed"
    assert work_files(app) == []


@pytest.mark.storage
def test_a_conversion_that_cannot_store_its_result_is_tried_again_later(
    env, clips, monkeypatch
):
    from ospost.blobstore import BlobError
    from ospost.media import workspace

    app, client, _ = env
    upload(client, "reel", clips["wide"].read_bytes())
    post = only_post(app)
    video_ready(app, post.id)
    store = app.extensions["media_store"]
    source = "2" * 32 + ".upload"
    store.blobs.put(store.key(IG, source), clips["wide"].read_bytes())

    def back_to_converting():
        with app.app_context():
            video = db.session.scalars(select(PostVideo)).one()
            store.delete(IG, video.filename)
            video.source, video.filename = source, None
            video.status, video.job_owner, video.job_until = "converting", None, None
            db.session.commit()

    back_to_converting()
    before = user_files(app)

    def storage_down(*args):
        raise BlobError("S3 unreachable for uploads/...: timed out")

    monkeypatch.setattr(workspace, "keep", storage_down)
    conversions.run(post.id)
    with app.app_context():  # not failed: given back until its retry time
        video = db.session.scalars(select(PostVideo)).one()
        assert (video.status, video.source) == ("converting", source)
        assert video.job_owner is None and video.storage_failures == 1
        assert video.job_until > datetime.now(UTC)
        assert "media storage did not answer" in video.error
    assert user_files(app) == before and work_files(app) == []
    assert conversions.resume() == []  # not before its time

    monkeypatch.undo()
    with app.app_context():  # the retry time came
        video = db.session.scalars(select(PostVideo)).one()
        video.job_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    conversions.run(post.id)
    assert video_ready(app, post.id) == "ready"
    assert not store.exists(IG, source) and work_files(app) == []
    with app.app_context():
        assert db.session.scalars(select(PostVideo)).one().error is None


@pytest.mark.storage
def test_removing_a_reel_removes_its_video_and_the_sweep_keeps_a_live_ones(env, clips):
    app, client, _ = env
    from ospost import orphans

    upload(client, "reel", clips["wide"].read_bytes(), when=soon(3 * 24 * 60))
    post = only_post(app)
    assert video_ready(app, post.id) == "ready"
    with app.app_context():
        video = db.session.scalars(select(PostVideo)).one()
    # Video, cover, tile (the upload and first cover go just after "ready").
    wait_for(lambda: len(user_files(app)) == 3, describe=lambda: user_files(app))
    kept = user_files(app)
    assert video.filename in kept
    app.config["MEDIA_ORPHAN_HOURS"] = 0
    time.sleep(1.1)  # S3 keeps whole seconds
    assert orphans.sweep(app) == 0  # the live post's video is referenced
    assert user_files(app) == kept

    # Meta's crawler gets the converted video as video/mp4: a presigned
    # bucket URL on S3, /static/tmp/ on the local folders.
    store = app.extensions["media_store"]
    with app.app_context():
        row = db.session.get(Post, post.id)
        name = store.stage(
            IG, video.filename, staged_name(row, video.filename, "test-secret", ".mp4")
        )
    url = store.crawler_url(name, app.config["APP_URL"])
    if store.local:
        with client.get(f"/static/tmp/{name}") as fetched:  # a streamed file
            body, kind = fetched.get_data(), fetched.headers["Content-Type"]
    else:
        assert url.startswith("http") and "X-Amz-Signature" in url
        fetched = requests.get(url, timeout=10)
        body, kind = fetched.content, fetched.headers["Content-Type"]
    assert kind == "video/mp4"
    assert body == store.read(IG, video.filename)

    resp = client.post(
        f"/post/{post.id}/remove", headers={"Accept": "application/json"}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert user_files(app) == [] and staged_copies(app) == []
    assert work_files(app) == []


@pytest.mark.parametrize(
    ("kind", "media", "name", "fields", "field", "message"),
    [
        ("reel", None, "", {}, "media", "Choose a video to post."),
        ("story", None, "", {}, "media", "Choose a photo or video to post."),
        (
            "reel",
            "photo",
            "a.jpg",
            {},
            "media",
            "This file is a photo, not a video. To post a photo, choose Feed post "
            "or Story.",
        ),
        (
            "reel",
            "short",
            "a.mp4",
            {},
            "media",
            "1 s long; a Reel must be at least 3 s",
        ),
        ("reel", b"not a video at all, just text" * 10, "a.mp4", {}, "media", ""),
        ("reel", "wide", "a.mp4", {"thumb_offset": "soon"}, "thumb_offset", "slider"),
        ("reel", "wide", "a.mp4", {"fit": "stretch"}, "fit", "9:16"),
        ("reel", "wide", "a.mp4", {"date": "2001-01-01T10:00"}, "date", "future"),
        ("story", "photo-tall", "a.jpg", {}, "media", "between 9:16 (0.56) and 1.91:1"),
    ],
)
@pytest.mark.storage
def test_bad_input_is_refused_at_its_field_and_leaves_nothing(
    app, client, user, clips, kind, media, name, fields, field, message
):
    payload = {
        "photo": image_bytes(),
        "photo-tall": image_bytes(1080, 2400),
        "short": clips["short"].read_bytes(),
        "wide": clips["wide"].read_bytes(),
    }.get(media, media)
    resp = send_form(client, f"/post/add/{kind}", reel_form(payload, name, **fields))
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    assert body["ok"] is False
    if field:
        assert message in body["fields"][field], body
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []
    assert user_files(app) == [] and work_files(app) == []


def test_a_cover_image_of_the_wrong_shape_is_refused(app, client, user, clips):
    resp = upload(
        client, "reel", clips["wide"].read_bytes(), cover=image_bytes(1080, 1350)
    )
    assert resp.status_code == 400
    assert "a Reel cover must be 9:16" in resp.get_json()["fields"]["cover"]
    assert user_files(app) == [] and work_files(app) == []


def test_an_unknown_posts_video_status_is_404(client, user):
    assert client.get("/post/999/video").status_code == 404


@pytest.mark.parametrize("kind", ["reel", "story"])
def test_the_composer_offers_the_post_types_and_the_kinds_fields(client, user, kind):
    page = client.get(f"/post/add/{kind}").get_data(as_text=True)
    assert "Post type" in page and 'aria-current="page">' + kind.title() in page
    assert 'name="media"' in page and "data-preview" in page
    assert ('name="caption"' in page) is (kind == "reel")
    assert ("Also share to feed" in page) is (kind == "reel")
    assert ('name="thumb_offset"' in page) is (kind == "reel")
    assert ("safe-top" in page) is (kind == "story")
    feed = client.get("/post/add").get_data(as_text=True)
    assert f'href="/post/add/{kind}"' in feed


def test_the_post_page_shows_the_conversion_and_its_form(env, clips):
    app, client, _ = env
    upload(client, "reel", clips["wide"].read_bytes(), caption="Page test")
    post = only_post(app)
    page = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert "Video conversion" in page or "Ready for Instagram" in page
    video_ready(app, post.id)
    page = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert re.search(r"Ready for Instagram: 3\.\d s, 320 × 568", page)
    assert "Post now" in page and "Remove Reel" in page
    assert f'action="/post/{post.id}/reel"' in page and "Page test</textarea>" in page
    assert "Replace the video (optional)" in page and "Save as draft" in page


def test_video_uploads_may_be_larger_than_photos_but_not_unlimited(make_app, auth):
    """The CSRF check reads the form first: the larger limit must already hold
    then. Sent over HTTP (the test client does not enforce body limits)."""
    import json
    import urllib.error
    import urllib.request

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    from support import serve_app

    app = make_app(
        WTF_CSRF_ENABLED=True, MAX_CONTENT_LENGTH=1024 * 1024, VIDEO_MAX_UPLOAD_MB=2
    )

    def send(url: str, size: int) -> tuple[int, dict]:
        media = FileStorage(io.BytesIO(b"\0" * size), "big.mp4", "media", "video/mp4")
        boundary, body = encode_multipart({"media": media})
        req = urllib.request.Request(
            url + "/post/add/reel",
            data=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    with serve_app(app) as url:
        status, body = send(url, 1536 * 1024)
        assert status == 400 and "form expired" in body["error"], body
        status, body = send(url, 4 * 1024 * 1024)
    assert status == 413
    assert body["error"] == "File is too large: the limit is 2 MB."


def test_the_home_page_shows_reels_on_the_grid_and_stories_in_a_row(env, clips):
    app, client, _ = env
    upload(client, "reel", clips["wide"].read_bytes(), share_to_feed="1", caption="A")
    upload(client, "reel", clips["wide"].read_bytes(), caption="Tab only")
    upload(client, "story", image_bytes(1080, 1920), name="s.jpg")
    page = client.get("/").get_data(as_text=True)
    grid = page[page.index('<ol class="grid"') :]
    strip = page[page.index('class="story-row"') : page.index('<ol class="grid"')]
    assert grid.count('class="tile tile-scheduled') == 1
    assert 'class="tile-type tile-type-reel" role="img" aria-label="Reel"' in grid
    assert strip.count('class="story-item') == 2
    assert "Reel (Reels tab only)" in strip and ": Story, " in strip
    assert strip.count("<time") == 2
    # Moving posts on the grid concerns only the grid's posts.
    with app.app_context():
        shared = db.session.scalars(
            select(Post.id).join(PostVideo).where(PostVideo.share_to_feed.is_(True))
        ).one()
    resp = client.post("/", json={"order": [shared]})
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("kind", ["reel", "story"])
def test_a_lost_publish_answer_is_found_never_published_twice(env, world, clips, kind):
    app, client, _ = env
    world.add_fault({"endpoint": "publish"}, {"after": True, "http": 500})
    upload(client, kind, clips["wide"].read_bytes(), caption="Once only")
    post = only_post(app)
    video_ready(app, post.id)
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    (live,) = world.published()
    # Found on the account (Stories on their own edge), never sent again.
    assert done.ig_media_id == live["media_id"]
    assert len([c for c in world.calls() if c["endpoint"] == "publish"]) == 1
    assert len([c for c in world.calls() if c["endpoint"] == "create"]) == 1


def test_a_disconnected_account_fails_a_reel_without_calling_meta(env, world, clips):
    app, client, user_id = env
    upload(client, "reel", clips["wide"].read_bytes())
    post = only_post(app)
    video_ready(app, post.id)
    with app.app_context():
        db.session.get(User, user_id).needs_reauth = True
        db.session.commit()
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.FAILED and "Log in again" in done.error_message
    assert [c for c in world.calls() if c["endpoint"] == "create"] == []


def test_a_video_that_could_not_be_converted_fails_its_post_with_the_reason(
    env, world, clips
):
    app, client, _ = env
    upload(client, "reel", clips["wide"].read_bytes())
    post = only_post(app)
    video_ready(app, post.id)
    with app.app_context():
        db.session.execute(
            update(VIDEOS)
            .where(VIDEOS.c.post_id == post.id)
            .values(status="failed", error="The conversion took longer than 76 s.")
        )
        db.session.commit()
    page = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert "The video could not be converted: The conversion took longer" in page
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.FAILED
    assert done.error_message == (
        "The video could not be converted: The conversion took longer than 76 s."
    )
    assert [c for c in world.calls() if c["endpoint"] == "create"] == []


def test_an_upload_finding_every_converter_busy_says_so(app, client, user, clips):
    from ospost import reel_upload
    from ospost.media import jobs

    taken = [jobs.SLOTS.acquire(0) for _ in range(jobs.cpu_count())]
    old = reel_upload.UPLOAD_SLOT_WAIT
    reel_upload.UPLOAD_SLOT_WAIT = 0.1
    try:
        resp = upload(client, "reel", clips["wide"].read_bytes())
    finally:
        reel_upload.UPLOAD_SLOT_WAIT = old
        for got in taken:
            if got:
                jobs.SLOTS.release()
    assert resp.status_code == 400
    assert "busy converting other videos" in resp.get_json()["fields"]["media"]
    assert user_files(app) == [] and work_files(app) == []


@pytest.mark.storage
@pytest.mark.parametrize("media_backend", ["s3"], indirect=True)
def test_a_video_uploaded_on_one_host_is_converted_on_another_through_the_bucket(
    make_app, world, clips, tmp_path
):
    host_a = make_app()
    client = host_a.test_client()
    AuthActions(client, world).login()
    # A second host: same database and bucket, its own disk. The conversion
    # started by host A's upload runs with host B's settings (the process-wide
    # ``conversions`` belongs to the app made last).
    host_b = make_app(
        UPLOAD_FOLDER=str(tmp_path / "b-uploads"),
        STAGING_FOLDER=str(tmp_path / "b-staging"),
        VIDEO_WORK_FOLDER=str(tmp_path / "b-work"),
    )
    assert conversions.app is host_b
    resp = upload(client, "reel", clips["wide"].read_bytes())
    assert resp.status_code == 200, resp.get_json()
    post = only_post(host_a)
    assert video_ready(host_b, post.id) == "ready"
    with host_b.app_context():
        video = db.session.scalars(select(PostVideo)).one()
    store_b = host_b.extensions["media_store"]
    assert store_b.exists(IG, video.filename)  # in the bucket, seen by both hosts
    assert host_a.extensions["media_store"].exists(IG, video.filename)
    assert user_files(host_b) == user_files(host_a)
    assert work_files(host_a) == [] and work_files(host_b) == []
    for folder in ("uploads", "b-uploads", "b-staging"):  # nothing on either disk
        assert not any((tmp_path / folder).rglob("*.*")), folder


def test_the_sweep_removes_work_folders_a_killed_process_left(app):
    import os

    from ospost import orphans

    root = Path(app.config["VIDEO_WORK_FOLDER"])
    stale, running = root / "job-stale", root / "job-running"
    for folder in (stale, running):
        folder.mkdir(parents=True)
        (folder / "clip.upload").write_bytes(b"half an upload")
    day_ago = time.time() - 25 * 3600
    os.utime(stale, (day_ago, day_ago))
    orphans.sweep(app)
    assert not stale.exists()
    assert (running / "clip.upload").exists()  # a job of now is left alone


@pytest.mark.storage
def test_a_video_upload_while_storage_is_down_gets_503_and_saves_nothing(
    app, client, user, clips, monkeypatch
):
    from ospost.blobstore import BlobError

    blobs = app.extensions["media_store"].blobs

    def down(*args, **kwargs):
        raise BlobError("S3 unreachable for uploads/...: timed out")

    monkeypatch.setattr(blobs, "put", down)
    monkeypatch.setattr(blobs, "put_file", down)  # the video moved in (local)
    resp = upload(client, "reel", clips["wide"].read_bytes())
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["ok"] is False and "Nothing was saved" in body["error"]
    monkeypatch.undo()
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []
    assert user_files(app) == [] and work_files(app) == []
