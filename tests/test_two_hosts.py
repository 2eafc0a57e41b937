"""Two hosts, one PostgreSQL, one bucket: every post is published exactly once,
whichever host claims it.

Each "host" is a gunicorn instance with its own working directory and its own
``uploads/`` and staging folders; they share a PostgreSQL server, an S3 bucket
(moto's server) and the Graph API simulator. 300 posts are created through
host A's form and made due at once; both hosts' schedulers race for them. With
files on each host's disk, host B would claim posts whose images only host A
has and fail them; with the bucket, none is lost and none doubles.

PostgreSQL only (the ``--postgres`` pass of ``make test``): SQLite is one
machine's database.
"""

from __future__ import annotations

import collections
import logging
import re
import time
from datetime import UTC
from datetime import datetime

import pytest
import requests
from sqlalchemy import select
from sqlalchemy import update

import simulator
from models import Post
from models import PostStatus
from models import db
from support import KEY
from support import Cluster
from support import image_bytes
from support import local_input
from support import soon
from support import wait_for

log = logging.getLogger(__name__)
pytestmark = pytest.mark.slow
POSTS = 300
TZ = "Europe/Paris"


def login(base: str, world) -> tuple[requests.Session, str]:
    """Log in to a host over HTTP as a browser does; the session and CSRF token."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
    token = world.issue_token(simulator.DEMO_USERS["demo"])["accessToken"]
    resp = browser.post(
        f"{base}/login",
        json={"accessToken": token, "timezone": TZ},
        headers={"X-CSRFToken": csrf},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    # A login starts a new session, with a new CSRF token (the form's page's).
    page = browser.get(f"{base}/post/add", timeout=10)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
    return browser, csrf


@pytest.mark.parametrize("media_backend", ["s3"], indirect=True)
def test_two_hosts_publish_300_posts_exactly_once(
    make_app, world, sim, postgres, tmp_path
):
    if postgres is None:
        pytest.skip("two hosts share a PostgreSQL server: runs with --postgres")
    app = make_app(TOKEN_ENCRYPTION_KEYS=[KEY])
    world.configure(quota_total=1000, container_ready_after=0.2)
    shared = {
        name: str(app.config[name])
        for name in (
            "S3_BUCKET",
            "S3_ENDPOINT_URL",
            "S3_REGION",
            "S3_ACCESS_KEY_ID",
            "S3_SECRET_ACCESS_KEY",
            "S3_PREFIX",
        )
    }
    hosts = {}
    for name in ("a", "b"):
        home = tmp_path / f"host-{name}"
        home.mkdir()
        env = {
            **shared,
            "OSPOST_UPLOAD_FOLDER": str(home / "uploads"),
            "OSPOST_STAGING_FOLDER": str(home / "static" / "tmp"),
            "OSPOST_RATELIMIT_ENABLED": "false",
            "OSPOST_SCHEDULE_QUOTA_DEFAULT": "1000",
            # The posts are made for an hour from now, beyond the horizon: no
            # host holds a job for them, both sweeps find them when due.
            "OSPOST_PUBLISH_HORIZON_SECONDS": "60",
            "OSPOST_APP_URL_CHECK": "false",
        }
        hosts[name] = Cluster(app, sim, workers=1, env=env, cwd=home)
    try:
        base = f"http://127.0.0.1:{hosts['a'].port}"
        browser, csrf = login(base, world)
        started = time.monotonic()
        when = local_input(soon(60), TZ)
        for i in range(POSTS):
            resp = browser.post(
                f"{base}/post/add",
                data={"caption": f"two hosts #{i}", "date": when},
                files={
                    "image": (
                        "p.jpg",
                        image_bytes(320, 400, color=(i % 256, i // 256, 90)),
                    )
                },
                headers={"X-CSRFToken": csrf, "Accept": "application/json"},
                timeout=30,
            )
            assert resp.status_code == 200, resp.text
        created = time.monotonic() - started
        # Nothing of it is on either host's disk: it is all in the bucket.
        for name in hosts:
            uploads = tmp_path / f"host-{name}" / "uploads"
            assert not uploads.exists() or not any(uploads.rglob("*.jpg"))

        # All due at once.
        now = datetime.now(UTC)
        with app.app_context():
            db.session.execute(
                update(Post).values(scheduled_at=now, next_attempt_at=now)
            )
            db.session.commit()
        pids = {name: set(host.workers()) for name, host in hosts.items()}
        claimed_by = collections.Counter()
        seen: set[tuple[int, str]] = set()

        def all_done():
            with app.app_context():
                rows = db.session.execute(
                    select(Post.id, Post.status, Post.lease_owner)
                ).all()
                db.session.remove()
            for post_id, _, owner in rows:
                if owner and (post_id, owner) not in seen:
                    seen.add((post_id, owner))
                    pid = int(owner.split(":")[1])
                    claimed_by[next(n for n, p in pids.items() if pid in p)] += 1
            done = [
                s for _, s, _ in rows if s in (PostStatus.PUBLISHED, PostStatus.FAILED)
            ]
            return len(done) == POSTS

        burst = time.monotonic()
        wait_for(all_done, timeout=180, interval=0.05)
        published_in = time.monotonic() - burst
    finally:
        for host in hosts.values():
            host.stop()

    with app.app_context():
        posts = db.session.scalars(select(Post)).all()
        assert collections.Counter(p.status for p in posts) == {
            PostStatus.PUBLISHED: POSTS
        }, [p.error_message for p in posts if p.status != PostStatus.PUBLISHED][:3]
        media_ids = [p.ig_media_id for p in posts]
    live = world.published()
    captions = collections.Counter(m["caption"] for m in live)
    assert captions == {f"two hosts #{i}": 1 for i in range(POSTS)}  # 0 lost, 0 twice
    assert sorted(media_ids) == sorted(m["media_id"] for m in live)
    assert len(world.containers()) == POSTS
    # Meta fetched every image from the bucket, none from a host.
    assert all(
        c["image_url"].startswith(shared["S3_ENDPOINT_URL"]) for c in world.containers()
    )
    # Both hosts took part (host B publishing images only host A received).
    assert claimed_by["a"] > 0 and claimed_by["b"] > 0, claimed_by
    # Nothing public is left; each post keeps its thumbnail for the grid.
    store = app.extensions["media_store"]
    assert list(store.blobs.list("tmp/")) == []
    kept = [b.key for b in store.blobs.list("uploads/") if "/feed/" not in b.key]
    assert len(kept) == POSTS and all(k.endswith(".thumb.jpg") for k in kept)
    log.info(
        f"two hosts: {POSTS} posts created in {created:.1f}s, published in "
        f"{published_in:.1f}s; claims seen: {dict(claimed_by)}"
    )
