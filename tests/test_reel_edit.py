"""Changing a saved Reel or Story, and Reel/Story drafts: through the post
page's form (``/post/<id>/reel``), with the conversion and the publishing
engine running against the Graph API simulator (which records what Meta got).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import db
from ospost.reel_models import PostVideo
from ospost.reels import Run
from ospost.reels import Superseded
from ospost.reels import conversions
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
    folder = tmp_path_factory.mktemp("reel-edit-clips")
    return {
        "wide": make_clip(folder / "wide.mp4", size=(320, 180), seconds=3.2),
        "tall": make_clip(folder / "tall.mp4", size=(180, 320), seconds=4.2),
        "short": make_clip(folder / "short.mp4", seconds=1.0),
    }


@pytest.fixture
def env(scheduled_app, auth, live_server):
    client = scheduled_app.test_client()
    AuthActions(client, auth.world).login()
    return scheduled_app, client


def saved(app, post_id: int) -> Post:
    with app.app_context():
        post = db.session.get(Post, post_id)
        post.media, post.video  # noqa: B018  (load before detaching)
        db.session.expunge_all()
        return post


def user_files(app) -> list[str]:
    return sorted(app.extensions["media_store"].names(IG))


def work_files(app) -> list[str]:
    from pathlib import Path

    root = Path(app.config["VIDEO_WORK_FOLDER"])
    return sorted(str(p) for p in root.rglob("*")) if root.exists() else []


def new_reel(app, client, clip, **fields) -> Post:
    resp = send_form(client, "/post/add/reel", reel_form(clip.read_bytes(), **fields))
    assert resp.status_code == 200, resp.get_json()
    with app.app_context():
        post_id = db.session.scalars(select(Post.id).order_by(Post.id.desc())).first()
    assert video_status(app, post_id) == "ready"
    # The upload and the first cover go just after the row says ready.
    wait_for(lambda: len(user_files(app)) == 3, describe=lambda: user_files(app))
    return saved(app, post_id)


def edit(client, post_id: int, media: bytes | None = None, name="clip.mp4", **fields):
    return send_form(client, f"/post/{post_id}/reel", reel_form(media, name, **fields))


@pytest.mark.storage
def test_an_edited_reel_is_published_with_the_new_values(env, world, clips):
    app, client = env
    options = {"caption": "Before", "thumb_offset": "0", "share_to_feed": "1"}
    post = new_reel(app, client, clips["wide"], **options)
    old_cover = [post.media[0].filename, post.media[0].thumbnail]
    when = soon(90)  # once: two calls may straddle a minute
    resp = edit(
        client,
        post.id,
        caption="After the edit #reel",
        first_comment="Edited comment",
        collaborators="@jane.doe",
        thumb_offset="2000",
        cover_source="frame",
        when=when,
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["redirect"] == f"/post/{post.id}/edit"
    after = saved(app, post.id)
    assert after.caption == "After the edit #reel"
    assert after.collaborators == ["jane.doe"]
    assert after.video.thumb_offset_ms == 2000 and not after.video.cover_uploaded
    assert after.video.share_to_feed is False  # the box was left unticked
    assert after.scheduled_at == when
    # A new cover from the frame at 2 s; the old pictures are gone.
    assert [after.media[0].filename, after.media[0].thumbnail] != old_cover
    files = user_files(app)
    assert not set(old_cover) & set(files)
    cover = after.media[0]
    assert sorted([after.video.filename, cover.filename, cover.thumbnail]) == files
    # Out of the feed: in the strip above the grid, not a grid tile.
    page = client.get("/").get_data(as_text=True)
    strip = page[page.index('class="story-row"') : page.index('<ol class="grid"')]
    assert f'id="post-{post.id}"' in strip

    publish_now(app, post.id)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    (live,) = world.published()
    assert live["caption"] == "After the edit #reel"
    assert live["collaborators"] == ["jane.doe"]
    assert live["video"]["share_to_feed"] is False
    assert 1900 <= live["video"]["thumb_offset"] <= 2100
    assert [c["text"] for c in world.comments()] == ["Edited comment"]


def test_an_uploaded_cover_replaces_the_frame_and_is_sent_as_cover_url(
    env, world, clips
):
    app, client = env
    post = new_reel(app, client, clips["wide"], share_to_feed="1")
    resp = edit(
        client,
        post.id,
        cover=image_bytes(1080, 1920),
        cover_source="image",
        share_to_feed="1",
    )
    assert resp.status_code == 200, resp.get_json()
    after = saved(app, post.id)
    assert after.video.cover_uploaded and after.video.thumb_offset_ms is None
    # Kept as it is when the next edit sends no new image.
    resp = edit(
        client, post.id, caption="Kept cover", cover_source="image", share_to_feed="1"
    )
    assert resp.status_code == 200, resp.get_json()
    assert saved(app, post.id).media[0].filename == after.media[0].filename
    publish_now(app, post.id)
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    (live,) = world.published()
    assert live["video"]["cover_url"] and live["video"]["share_to_feed"] is True
    assert live["caption"] == "Kept cover"


@pytest.mark.storage
def test_replacing_the_video_converts_the_new_one_and_removes_the_old(
    env, world, clips
):
    app, client = env
    post = new_reel(app, client, clips["wide"], fit="crop", share_to_feed="1")
    old = set(user_files(app))
    resp = edit(
        client, post.id, clips["tall"].read_bytes(), fit="pad", share_to_feed="1"
    )
    assert resp.status_code == 200, resp.get_json()
    assert video_status(app, post.id) == "ready"
    after = saved(app, post.id)
    assert after.video.fit == "pad" and after.video.duration_ms > 4000
    # Only the new video and its cover pictures are left, on either backend.
    wait_for(
        lambda: len(user_files(app)) == 3 and not old & set(user_files(app)),
        describe=lambda: (old, user_files(app)),
    )
    assert after.video.filename in user_files(app)
    assert work_files(app) == []
    publish_now(app, post.id)
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    (live,) = world.published()
    assert live["video"]["duration"] > 4.0  # the new clip went to Meta
    assert live["video"]["share_to_feed"] is True


def test_a_replaced_videos_old_conversion_cannot_save_over_the_new_one(env, clips):
    app, client = env
    post = new_reel(app, client, clips["wide"], share_to_feed="1")
    with app.app_context():  # as if a conversion of the old video were running
        db.session.execute(
            update(VIDEOS)
            .where(VIDEOS.c.post_id == post.id)
            .values(status="converting", job_owner="old-run", job_until=soon())
        )
        db.session.commit()
    resp = edit(client, post.id, clips["tall"].read_bytes(), share_to_feed="1")
    assert resp.status_code == 200, resp.get_json()
    assert video_status(app, post.id) == "ready"  # the new run took the row
    ready = saved(app, post.id).video
    with app.app_context():
        # The old run's progress report stops it; its result is not saved.
        old_run = Run(post.id, ready.id, "old-run")
        with pytest.raises(Superseded):
            conversions._reporter(old_run)(0.5)
        assert not conversions._finish(old_run, status="failed", error="x")
    after = saved(app, post.id).video
    assert (after.status, after.filename) == ("ready", ready.filename)


@pytest.mark.parametrize(
    ("media", "fields", "field", "message"),
    [
        ("short", {}, "media", "a Reel must be at least 3 s"),
        (b"not a video at all" * 20, {}, "media", ""),
        ("photo", {}, "media", "This file is a photo, not a video."),
        (None, {"thumb_offset": "soon"}, "thumb_offset", "slider"),
        ("tall", {"fit": "stretch"}, "fit", "9:16"),
        (None, {"date": "2001-01-01T10:00"}, "date", "future"),
        (None, {"date": ""}, "date", "Choose when to publish"),
        (None, {"caption": "#tag " * 31}, "caption", "hashtags"),
        (None, {"collaborators": "no-dashes"}, "collaborators", "no-dashes"),
        (None, {"cover_source": "image"}, "cover", "Choose the cover image"),
        (None, {"cover_source": "gif"}, "cover", "a frame of the video or an image"),
        (None, {"cover_source": "image", "cover": "wide"}, "cover", "must be 9:16"),
    ],
)
@pytest.mark.storage
def test_a_refused_edit_changes_nothing_and_leaves_no_file(
    env, clips, media, fields, field, message
):
    app, client = env
    post = new_reel(app, client, clips["wide"], caption="Kept", share_to_feed="1")
    before = user_files(app)
    fields = dict(fields)  # shared by both storage backends' runs
    payload = {"photo": image_bytes(), "wide": image_bytes(1080, 1350)}
    if fields.get("cover"):
        fields = {**fields, "cover": payload[fields["cover"]]}
    if isinstance(media, str):
        media = payload.get(media) or clips[media].read_bytes()
    resp = edit(client, post.id, media, caption=fields.pop("caption", "New"), **fields)
    assert resp.status_code == 400, resp.get_json()
    assert message in resp.get_json()["fields"][field]
    after = saved(app, post.id)
    assert after.caption == "Kept" and after.video.filename == post.video.filename
    assert after.media[0].filename == post.media[0].filename
    assert user_files(app) == before and work_files(app) == []


@pytest.mark.parametrize("status", ["publishing", "published"])
def test_a_reel_being_published_or_live_cannot_be_edited(env, clips, status):
    app, client = env
    post = new_reel(app, client, clips["wide"])
    with app.app_context():
        db.session.execute(update(Post).where(Post.id == post.id).values(status=status))
        db.session.commit()
    before = user_files(app)
    resp = edit(client, post.id, clips["tall"].read_bytes(), caption="Too late")
    assert resp.status_code == 409
    assert "being published or is already live" in resp.get_json()["error"]
    assert saved(app, post.id).caption == "" and user_files(app) == before
    page = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert f'action="/post/{post.id}/reel"' not in page


def test_the_feed_edit_address_hands_a_reel_to_its_own_form(env, clips):
    app, client = env
    post = new_reel(app, client, clips["wide"])
    resp = client.post(f"/post/{post.id}/edit", data={"caption": "x"})
    assert resp.status_code == 307
    assert resp.headers["Location"].endswith(f"/post/{post.id}/reel")


def test_another_accounts_reel_is_404(env, clips, world):
    app, client = env
    post = new_reel(app, client, clips["wide"])
    other = app.test_client()
    AuthActions(other, world).login("other")
    assert edit(other, post.id, caption="mine").status_code == 404
    assert other.get(f"/post/{post.id}/video/file").status_code == 404
    with client.get(f"/post/{post.id}/video/file") as own:  # a streamed file
        assert own.status_code == 200 and own.get_data()[4:8] == b"ftyp"


@pytest.mark.storage
def test_a_story_photo_can_become_a_video(env, world, clips):
    app, client = env
    resp = send_form(
        client, "/post/add/story", reel_form(image_bytes(1080, 1920), "s.jpg")
    )
    assert resp.status_code == 200, resp.get_json()
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    photo = user_files(app)
    resp = edit(client, post_id, clips["tall"].read_bytes(), when=soon(120))
    assert resp.status_code == 200, resp.get_json()
    assert video_status(app, post_id) == "ready"
    wait_for(lambda: not set(photo) & set(user_files(app)))
    publish_now(app, post_id)
    assert settled(app, post_id).status == PostStatus.PUBLISHED
    (live,) = world.published()
    assert (live["media_product_type"], live["media_type"]) == ("STORY", "VIDEO")


# -- drafts --------------------------------------------------------------------


def test_a_reel_draft_needs_no_time_converts_and_can_be_scheduled(env, world, clips):
    app, client = env
    resp = send_form(
        client,
        "/post/add/reel/draft",
        reel_form(clips["wide"].read_bytes(), date="", caption="Draft reel"),
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["redirect"] == "/calendar#drafts"
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    assert video_status(app, post_id) == "ready"  # converted while a draft
    draft = saved(app, post_id)
    assert draft.status == PostStatus.DRAFT and draft.scheduled_at is None
    calendar = client.get("/calendar").get_data(as_text=True)
    drafts = calendar[calendar.index('id="drafts"') :]
    assert f'data-id="{post_id}"' in drafts and "Draft reel" in drafts
    assert 'cal-badge">Reel</span>' in drafts
    assert "Draft reel" in client.get("/").get_data(as_text=True)  # home shelf
    # Opened and edited as a draft, then scheduled from the shelf.
    resp = send_form(
        client,
        f"/post/{post_id}/reel/draft",
        reel_form(date="", caption="Still a draft", share_to_feed="1"),
    )
    assert resp.status_code == 200, resp.get_json()
    assert saved(app, post_id).caption == "Still a draft"
    when = soon(180)
    from support import local_input

    resp = client.post(
        f"/drafts/{post_id}/schedule",
        json={"local": local_input(when, "Europe/Paris")},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 200, resp.get_json()
    scheduled = saved(app, post_id)
    assert scheduled.status == PostStatus.SCHEDULED and scheduled.scheduled_at == when
    publish_now(app, post_id)
    assert settled(app, post_id).status == PostStatus.PUBLISHED
    (live,) = world.published()
    assert live["caption"] == "Still a draft"


def test_a_scheduled_reel_saved_as_draft_leaves_the_schedule(env, world, clips):
    app, client = env
    post = new_reel(app, client, clips["wide"], caption="Was scheduled")
    resp = send_form(client, f"/post/{post.id}/reel/draft", reel_form(date=""))
    assert resp.status_code == 200, resp.get_json()
    assert saved(app, post.id).status == PostStatus.DRAFT


@pytest.mark.parametrize(
    ("kind", "message"),
    [("reel", "Choose a video to post."), ("story", "Choose a photo or video")],
)
def test_a_reel_or_story_draft_still_needs_its_media(app, client, user, kind, message):
    resp = send_form(client, f"/post/add/{kind}/draft", reel_form(date=""))
    assert resp.status_code == 400
    assert message in resp.get_json()["fields"]["media"]
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []


def test_a_draft_whose_video_failed_cannot_be_scheduled(env, clips):
    app, client = env
    send_form(
        client, "/post/add/reel/draft", reel_form(clips["wide"].read_bytes(), date="")
    )
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    video_status(app, post_id)
    with app.app_context():
        db.session.execute(
            update(VIDEOS)
            .where(VIDEOS.c.post_id == post_id)
            .values(status="failed", error="The file is damaged")
        )
        db.session.commit()
    resp = client.post(
        f"/drafts/{post_id}/schedule", json={}, headers={"Accept": "application/json"}
    )
    assert resp.status_code == 400
    assert (
        "The video could not be converted (The file is damaged)"
        in (resp.get_json()["error"])
    )
    assert saved(app, post_id).status == PostStatus.DRAFT


def test_without_javascript_a_refused_edit_shows_the_form_again(env, clips):
    app, client = env
    post = new_reel(app, client, clips["wide"], caption="Saved caption")
    resp = client.post(
        f"/post/{post.id}/reel",
        data=reel_form(caption="Typed caption", thumb_offset="soon"),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "Pick the cover frame with the slider." in page
    assert "Typed caption</textarea>" in page and "Saved caption" not in page
    resp = client.post(
        f"/post/{post.id}/reel",
        data=reel_form(caption="Typed caption"),
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith(
        f"/post/{post.id}/edit"
    )


def test_a_video_story_can_become_a_photo(env, world, clips):
    app, client = env
    resp = send_form(client, "/post/add/story", reel_form(clips["tall"].read_bytes()))
    assert resp.status_code == 200, resp.get_json()
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    assert video_status(app, post_id) == "ready"
    wait_for(lambda: len(user_files(app)) == 3)
    resp = edit(client, post_id, image_bytes(1080, 1920), "story.jpg")
    assert resp.status_code == 200, resp.get_json()
    after = saved(app, post_id)
    assert after.video is None
    cover = after.media[0]
    assert user_files(app) == sorted([cover.filename, cover.thumbnail])
    publish_now(app, post_id)
    assert settled(app, post_id).status == PostStatus.PUBLISHED
    (live,) = world.published()
    assert (live["media_product_type"], live["media_type"]) == ("STORY", "IMAGE")


@pytest.mark.storage
def test_a_conversion_running_when_its_video_is_replaced_stops_and_keeps_nothing(
    env, clips, monkeypatch
):
    import threading

    from ospost.media import jobs

    app, client = env
    real = jobs.prepare_video
    edited = threading.Event()
    seen: list[str] = []

    def held_first(src, dst, kind, **options):
        if not seen:  # the first video's conversion reports once the edit is in
            seen.append("held")
            assert edited.wait(30)
            try:
                options["progress"](0.2)
            except Superseded:
                seen.append("superseded")
                raise
        return real(src, dst, kind, **options)

    monkeypatch.setattr(jobs, "prepare_video", held_first)
    resp = send_form(client, "/post/add/reel", reel_form(clips["wide"].read_bytes()))
    assert resp.status_code == 200, resp.get_json()
    wait_for(lambda: seen)
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).one()
    resp = edit(client, post_id, clips["tall"].read_bytes(), caption="New video")
    assert resp.status_code == 200, resp.get_json()
    edited.set()
    assert video_status(app, post_id) == "ready"
    wait_for(lambda: seen == ["held", "superseded"], describe=lambda: seen)
    after = saved(app, post_id)
    assert after.video.duration_ms > 4000 and after.caption == "New video"
    # The new video and its cover pictures; nothing of the old one's run.
    wait_for(lambda: len(user_files(app)) == 3, describe=lambda: user_files(app))
    assert after.video.filename in user_files(app)
    wait_for(lambda: work_files(app) == [])
