"""Reels and Stories with real gunicorn processes: the one worker killed with
SIGKILL while it checks a video container, and after Meta published the Reel
but before its media id was saved (the patterns of test_carousel_processes.py).

What must hold: one container, one publish, the post published with Meta's
media id, whatever the moment of the kill.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_processes import make_due
from test_processes import seeded  # noqa: F401  (fixture)

from models import Post
from models import PostStatus
from models import User
from models import db
from ospost.media import jobs
from ospost.reel_models import PostVideo
from support import Cluster
from support import kill_worker_mid_call
from support import seed_post
from support import wait_for
from videoclips import make_clip

pytestmark = pytest.mark.slow


def seed_reel(app, tmp_path, caption: str) -> int:
    """A scheduled Reel whose video is converted already (as the background
    conversion leaves it)."""
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        account, user_id = user.ig_account_id, user.id
    store = app.extensions["media_store"]
    name = "f" * 32 + ".mp4"
    post_id = seed_post(app, user_id, caption=caption, post_type="reel")
    clip = make_clip(tmp_path / "source.mp4", seconds=3.2)
    jobs.prepare_video(clip, store.path(account, name), "reel")  # in its folder
    with app.app_context():
        db.session.add(
            PostVideo(post_id=post_id, filename=name, status="ready", progress=1.0)
        )
        db.session.commit()
    return post_id


def calls(world, endpoint) -> list[dict]:
    return [c for c in world.calls() if c["endpoint"] == endpoint]


@pytest.mark.parametrize(
    ("endpoint", "fault"),
    [
        # Killed while asking Meta whether the video container is ready.
        ("status", {"delay": 6}),
        # Killed after Meta published the Reel, before the media id was saved.
        ("publish", {"after": True, "delay": 6, "http": 500}),
    ],
)
def test_sigkill_mid_reel_publishes_it_once(
    seeded,  # noqa: F811
    sim,
    world,
    tmp_path,
    endpoint,
    fault,
):
    app, _client = seeded
    post_id = seed_reel(app, tmp_path, "killed reel")
    world.configure(video_processing_seconds=0.5)
    world.add_fault({"endpoint": endpoint}, fault)
    make_due(app, 1)
    cluster = Cluster(app, sim, workers=1)

    def status():
        with app.app_context():
            return db.session.get(Post, post_id).status

    try:
        kill_worker_mid_call(cluster, world, endpoint)
        # gunicorn starts a fresh worker; it must finish from the database.
        wait_for(lambda: status() == PostStatus.PUBLISHED, timeout=60, describe=status)
        wait_for(lambda: not world.in_flight(), timeout=10)
    finally:
        cluster.stop()
    (live,) = world.published()
    assert live["media_product_type"] == "REELS"
    assert len(calls(world, "create")) == 1
    assert len(calls(world, "publish")) == 1
    with app.app_context():
        assert db.session.get(Post, post_id).ig_media_id == live["media_id"]
