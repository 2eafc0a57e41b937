"""Carousels mixing photos and videos, end to end: the New post form, the
background conversion to the carousel's shape, and the publishing engine
against the Graph API simulator (video items as ``media_type=VIDEO``)."""

from __future__ import annotations

import io
import time
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from test_reels import env  # noqa: F401  (fixture)
from test_reels import settled
from test_reels import staged_copies
from test_reels import user_files
from test_reels import work_files

from models import Post
from models import PostMedia
from models import PostStatus
from models import db
from ospost.reel_models import PostVideo
from ospost.scheduler import publisher
from support import image_bytes
from support import local_input
from support import soon
from support import wait_for
from videoclips import make_clip

VIDEOS = PostVideo.__table__


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("carousel-clips")
    return {
        "wide": make_clip(folder / "wide.mp4", size=(320, 180), seconds=3.2),
        "short": make_clip(folder / "short.mp4", seconds=1.0),
        "panorama": make_clip(folder / "pano.mp4", size=(360, 160), seconds=3.2),
    }


def add(client, *files, **fields):
    """Send the New post form with ``files`` (name, bytes) in order."""
    data = {"date": local_input(fields.pop("when", soon()), "Europe/Paris"), **fields}
    data["media"] = [(io.BytesIO(body), name) for name, body in files]
    return client.post(
        "/post/add",
        data=data,
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )


def mixed(client, clips, **fields):
    photo = ("photo.jpg", image_bytes(1080, 1350))  # 4:5
    return add(client, photo, ("clip.mp4", clips["wide"].read_bytes()), **fields)


def only_post(app) -> Post:
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        for item in post.media:
            item.video  # noqa: B018  (load before detaching)
        db.session.expunge_all()
        return post


def videos_ready(app, post_id):
    def check():
        with app.app_context():
            statuses = db.session.scalars(
                select(PostVideo.status).where(PostVideo.post_id == post_id)
            ).all()
            return all(s != "converting" for s in statuses) and statuses

    return wait_for(check, timeout=60)


def post_now(app, post_id):
    with app.app_context():
        db.session.get(Post, post_id).retry(datetime.now(UTC))
        db.session.commit()
    publisher.wake(post_id)


@pytest.mark.storage
def test_a_photo_and_a_video_publish_as_one_carousel_in_the_photos_shape(
    env,  # noqa: F811
    world,
    clips,
):
    app, client, _ = env
    resp = mixed(client, clips, caption="Harbour, in pictures and moving")
    assert resp.status_code == 200, resp.get_json()
    post = only_post(app)
    assert post.media_type == "CAROUSEL" and len(post.media) == 2
    photo, item = post.media
    assert photo.video is None and item.video is not None
    assert item.video.post_media_id == item.id and item.video.post_id == post.id
    # Until converted, the item shows the first frame with black bars, 4:5.
    assert item.width * 5 == item.height * 4
    assert item.video.source in user_files(app)
    assert videos_ready(app, post.id) == ["ready"]
    with app.app_context():
        video = db.session.scalars(select(PostVideo)).one()
        row = db.session.get(PostMedia, item.id)
        assert abs(video.width / video.height - 0.8) < 0.01  # the carousel's shape
        assert any("4:5" in change for change in video.changes), video.changes
        assert (row.width, row.height) == (video.width, video.height)
        assert row.filename != item.filename  # the converted video's own frame
        assert db.session.get(Post, post.id).video is None  # not a Reel's video
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    (record,) = world.published()
    assert record["media_type"] == "CAROUSEL_ALBUM"
    assert [c["media_type"] for c in record["children"]] == ["IMAGE", "VIDEO"]
    child = record["children"][1]["video"]
    assert child["problem"] is None and child["codec"] == "h264"
    assert abs(child["width"] / child["height"] - 0.8) < 0.02
    items = [c for c in world.calls() if c["endpoint"] == "create_item"]
    assert len(items) == 2  # exactly once each
    # Live: the upload, the video and the staged copies are gone; the grid
    # tiles stay.
    assert sorted(user_files(app)) == sorted(m.thumbnail for m in done.media)
    assert staged_copies(app) == [] and work_files(app) == []


def test_a_post_due_while_a_video_item_converts_waits_and_says_so(
    env,  # noqa: F811
    world,
    clips,
):
    app, client, _ = env
    mixed(client, clips)
    post = only_post(app)
    videos_ready(app, post.id)
    with app.app_context():  # as if the conversion were still running elsewhere
        db.session.execute(
            update(VIDEOS).values(
                status="converting", progress=0.25, job_owner="other", job_until=soon()
            )
        )
        db.session.commit()
    post_now(app, post.id)

    def waiting():
        with app.app_context():
            return db.session.get(Post, post.id).waiting_reason

    assert wait_for(waiting).startswith(
        "Waiting for the video to finish converting (25%)"
    )
    assert not [c for c in world.calls() if c["endpoint"].startswith("create")]
    with app.app_context():
        db.session.execute(update(VIDEOS).values(status="ready"))
        db.session.commit()
    publisher.wake(post.id)
    assert settled(app, post.id).status == PostStatus.PUBLISHED


def test_lost_answers_never_publish_a_mixed_carousel_twice(env, world, clips):  # noqa: F811
    app, client, _ = env
    # Meta makes the video item, but its answer is lost; later the answer to
    # the publish request is lost too.
    world.add_fault(
        {"endpoint": "create_item", "media_type": "VIDEO"},
        {"after": True, "http": 500},
    )
    world.add_fault({"endpoint": "publish"}, {"after": True, "http": 500})
    mixed(client, clips, caption="Once only")
    post = only_post(app)
    videos_ready(app, post.id)
    post_now(app, post.id)
    done = settled(app, post.id, timeout=60)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    (live,) = world.published()
    assert done.ig_media_id == live["media_id"]
    assert [c["media_type"] for c in live["children"]] == ["IMAGE", "VIDEO"]
    assert len([c for c in world.calls() if c["endpoint"] == "publish"]) == 1
    assert len([c for c in world.calls() if c["endpoint"] == "create_carousel"]) == 1


def test_a_restart_mid_way_resumes_from_the_saved_item_containers(
    env,  # noqa: F811
    world,
    clips,
):
    app, client, _ = env
    mixed(client, clips)
    post = only_post(app)
    videos_ready(app, post.id)
    post_now(app, post.id)

    def items_made():
        with app.app_context():
            ids = db.session.scalars(
                select(PostMedia.container_id).where(PostMedia.post_id == post.id)
            ).all()
            return all(ids) and ids

    made = wait_for(items_made)
    # A process dying here leaves its lease: the next one (a new owner) takes
    # the post from what was saved, and makes no new item container.
    with app.app_context():
        db.session.execute(
            update(Post.__table__)
            .where(Post.__table__.c.id == post.id)
            .values(lease_owner="dead", lease_until=soon(-1))
        )
        db.session.commit()
    publisher.wake(post.id)
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    creates = [c for c in world.calls() if c["endpoint"] == "create_item"]
    assert len(creates) == 2
    (live,) = world.published()
    assert [c["container_id"] for c in live["children"]] == made


def test_meta_refusing_a_video_item_fails_the_post_with_metas_words(
    env,  # noqa: F811
    world,
    clips,
):
    app, client, _ = env
    world.add_fault(
        {"endpoint": "status", "media_type": "VIDEO"},
        {"container_status": "ERROR", "status": "Error: Media upload has failed "
         "with error code 2207026"},
    )  # fmt: skip
    mixed(client, clips)
    post = only_post(app)
    videos_ready(app, post.id)
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.FAILED
    assert done.error_message.startswith(
        "Instagram could not process video 2 of the carousel"
    )
    assert "2207026" in done.error_message
    assert world.published() == []


@pytest.mark.parametrize(
    ("second", "fields", "message"),
    [
        ("short", {}, "Item 2: This video is 1 s long; a carousel video must be"),
        ("junk", {}, "Item 2: This file is not a video we can read."),
        ("wide", {"video_fit": "stretch"}, "black bars or cropping"),
        (
            "wide",
            {"item": ["new:0", "new:1"], "item_alt_text": ["", "a boat"]},
            "Item 2 is a video: Instagram takes alt text for photos only.",
        ),
        (
            "wide",
            {
                "item": ["new:0", "new:1"],
                "item_user_tags": ["[]", '[{"username":"jane.doe","x":0.5,"y":0.5}]'],
            },
            "does not take people tags on a video",
        ),
    ],
)
@pytest.mark.storage
def test_bad_videos_are_refused_with_a_reason_and_leave_nothing(
    app, client, user, clips, second, fields, message
):
    body = {
        "short": clips["short"].read_bytes(),
        "wide": clips["wide"].read_bytes(),
        "junk": b"not a video at all, just text" * 10,
    }[second]
    resp = add(
        client,
        ("photo.jpg", image_bytes(1080, 1350)),
        ("clip.mp4", body),
        **fields,
    )
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()["fields"]["image"]
    assert message in error, error
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []
        assert db.session.scalar(select(func.count()).select_from(PostVideo)) == 0
    assert user_files(app) == [] and work_files(app) == []


def test_a_single_video_is_pointed_to_reels(app, client, user, clips):
    resp = add(client, ("clip.mp4", clips["wide"].read_bytes()))
    assert resp.status_code == 400
    assert "A single video is posted as a Reel" in resp.get_json()["fields"]["image"]
    assert user_files(app) == [] and work_files(app) == []


@pytest.mark.storage
def test_removing_a_mixed_carousel_removes_its_videos(env, clips):  # noqa: F811
    app, client, _ = env
    mixed(client, clips, when=soon(3 * 24 * 60))
    post = only_post(app)
    videos_ready(app, post.id)
    wait_for(lambda: len(user_files(app)) == 5, describe=lambda: user_files(app))
    resp = client.post(
        f"/post/{post.id}/remove", headers={"Accept": "application/json"}
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PostVideo)) == 0
    assert user_files(app) == [] and staged_copies(app) == []


def test_an_all_video_carousel_takes_its_first_videos_shape(env, world, clips):  # noqa: F811
    app, client, _ = env
    pano, wide = clips["panorama"].read_bytes(), clips["wide"].read_bytes()
    resp = add(client, ("a.mp4", pano), ("b.mp4", wide), video_fit="crop")
    assert resp.status_code == 200, resp.get_json()
    post = only_post(app)
    assert videos_ready(app, post.id) == ["ready", "ready"]
    with app.app_context():
        shapes = db.session.execute(select(PostVideo.width, PostVideo.height)).all()
    # 9:4 is wider than a feed post may be: both are cut to 1.91:1.
    assert all(abs(w / h - 1.91) < 0.02 for w, h in shapes), shapes
    # The grid shows the first video's poster tile; the library offers no
    # video's poster as a photo.
    with app.app_context():
        first = db.session.get(Post, post.id).media[0]
        tile = first.thumbnail
    assert tile in client.get("/").get_data(as_text=True)
    assert client.get("/library").get_json()["items"] == []
    post_now(app, post.id)
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    (record,) = world.published()
    assert [c["media_type"] for c in record["children"]] == ["VIDEO", "VIDEO"]


def test_the_migration_adds_item_videos_and_takes_them_away_again(make_app):
    from flask_migrate import downgrade
    from flask_migrate import upgrade

    def columns() -> set[str]:
        return {c["name"] for c in inspect(db.engine).get_columns("post_videos")}

    app = make_app()
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade()
        assert "post_media_id" in columns()
        downgrade(revision="c7d41f2a9e03")
        assert "post_media_id" not in columns()
        upgrade()
        assert "post_media_id" in columns()


@pytest.mark.storage
def test_the_sweep_keeps_video_items_and_deleting_the_account_removes_them(
    env,  # noqa: F811
    clips,
):
    from ospost import orphans

    app, client, _ = env
    mixed(client, clips, when=soon(3 * 24 * 60))
    post = only_post(app)
    videos_ready(app, post.id)
    # Photo + tile, the video's MP4, its poster and tile.
    wait_for(lambda: len(user_files(app)) == 5, describe=lambda: user_files(app))
    kept = sorted(user_files(app))
    app.config["MEDIA_ORPHAN_HOURS"] = 0
    time.sleep(1.1)  # S3 keeps whole seconds
    assert orphans.sweep(app) == 0
    assert sorted(user_files(app)) == kept
    assert client.post("/account/delete").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PostVideo)) == 0
        assert db.session.scalar(select(func.count()).select_from(PostMedia)) == 0
    assert user_files(app) == [] and staged_copies(app) == []


def test_editing_a_mixed_carousel_keeps_its_video(env, world, clips):  # noqa: F811
    app, client, _ = env
    mixed(client, clips, when=soon(3 * 24 * 60))
    post = only_post(app)
    videos_ready(app, post.id)
    with app.app_context():
        before = db.session.scalars(select(PostVideo)).one()
    photo, item = post.media
    # The video moves first (both are 4:5 now); nothing is sent again.
    resp = client.post(
        f"/post/{post.id}/edit",
        data={
            "date": local_input(soon(2 * 24 * 60), "Europe/Paris"),
            "caption": "Edited",
            "item": [f"keep:{item.id}", f"keep:{photo.id}"],
            "item_alt_text": ["", "Blue"],
            "item_user_tags": ["[]", "[]"],
        },
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 200, resp.get_json()
    with app.app_context():
        after = db.session.scalars(select(PostVideo)).one()
        edited = db.session.get(Post, post.id)
        assert edited.caption == "Edited" and edited.media[0].video.id == after.id
        tile = edited.media[0].thumbnail
    assert tile in client.get("/").get_data(as_text=True)  # the video's poster
    assert (after.id, after.filename) == (before.id, before.filename)
    assert after.filename in user_files(app)


def test_a_video_item_that_could_not_be_converted_fails_the_post_with_why(
    env,  # noqa: F811
    world,
    clips,
):
    app, client, _ = env
    mixed(client, clips)
    post = only_post(app)
    videos_ready(app, post.id)
    with app.app_context():
        db.session.execute(
            update(VIDEOS).values(status="failed", error="The video is damaged.")
        )
        db.session.commit()
    post_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.FAILED
    assert done.error_message == (
        "A video of the carousel could not be converted: The video is damaged."
    )
    assert not [c for c in world.calls() if c["endpoint"].startswith("create")]
