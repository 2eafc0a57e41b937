"""Operations: health check, JSON logs, token-key rotation, migrations."""

from __future__ import annotations

import json
import logging

from cryptography.fernet import Fernet
from sqlalchemy import inspect
from sqlalchemy import text

from models import Post
from models import User
from models import db
from models import token_cipher
from ospost.web import JsonFormatter


def test_healthz_reports_database_and_scheduler(make_app):
    app = make_app(start_scheduler=True, HEALTHZ_TOKEN="monitor-token-1")
    client = app.test_client()
    resp = client.get("/healthz", headers={"Authorization": "Bearer monitor-token-1"})
    assert resp.status_code == 200
    assert resp.get_json() == {
        "ok": True,
        "database": "ok",
        "scheduler": "running",
        "overdue_posts": 0,
    }


def test_anonymous_healthz_shows_nothing_but_ok(make_app):
    """Load balancers need only the status code; the internals (overdue posts,
    scheduler state) are for the monitor holding ``HEALTHZ_TOKEN``."""
    for token in (None, "monitor-token-1"):
        app = make_app(HEALTHZ_TOKEN=token)
        resp = app.test_client().get("/healthz")
        assert (resp.status_code, resp.get_json()) == (200, {"ok": True})
    client = app.test_client()
    for wrong in ("Bearer nope", "Bearer monitor-token-", "Basic bW9uaXRvcg==", "x"):
        resp = client.get("/healthz", headers={"Authorization": wrong})
        assert resp.status_code == 401
        assert resp.get_json()["ok"] is False
        assert "HEALTHZ_TOKEN" in resp.get_json()["error"]
        assert "overdue_posts" not in resp.get_json()
    # Without a configured token, no header unlocks the details.
    unset = make_app().test_client()
    resp = unset.get("/healthz", headers={"Authorization": "Bearer "})
    assert resp.status_code == 401 and "overdue_posts" not in resp.get_json()


def test_healthz_stays_minimal_when_the_database_is_down(make_app):
    app = make_app(HEALTHZ_TOKEN="monitor-token-1")
    with app.app_context():
        db.drop_all()  # every query now fails like an unreachable database
    client = app.test_client()
    resp = client.get("/healthz")
    assert (resp.status_code, resp.get_json()) == (503, {"ok": False})
    resp = client.get("/healthz", headers={"Authorization": "Bearer monitor-token-1"})
    assert resp.status_code == 503 and resp.get_json()["database"] == "unavailable"


def test_json_logs_carry_post_ids_and_fbtrace_id():
    record = logging.LogRecord(
        "publisher", logging.WARNING, __file__, 1, "post %s failed", (7,), None
    )
    record.post_id = 7
    record.fbtrace_id = "AbC123"
    record.meta_code = 190
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "post 7 failed"
    assert (entry["post_id"], entry["fbtrace_id"], entry["meta_code"]) == (
        7,
        "AbC123",
        190,
    )
    assert entry["level"] == "WARNING" and entry["time"].endswith("+00:00")


def test_token_keys_rotate_without_losing_tokens(make_app):
    old_key = Fernet.generate_key().decode()
    new_key = Fernet.generate_key().decode()
    app = make_app(TOKEN_ENCRYPTION_KEYS=[old_key])
    with app.app_context():
        db.session.add(User(ig_account_id="17841400000000099", access_token="tok-1"))
        db.session.commit()
    app.config["TOKEN_ENCRYPTION_KEYS"] = [new_key, old_key]
    token_cipher.configure(app.config["TOKEN_ENCRYPTION_KEYS"])
    result = app.test_cli_runner().invoke(args=["rotate-tokens"])
    assert "re-encrypted" in result.output
    token_cipher.configure([new_key])  # the old key is gone now
    with app.app_context():
        stored = db.session.scalars(
            db.select(User).where(User.ig_account_id == "17841400000000099")
        ).one()
        assert stored.access_token == "tok-1"


def test_migrations_build_the_same_schema_as_the_models(make_app, database_url):
    app = make_app()
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        from flask_migrate import upgrade

        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {
            "users",
            "posts",
            "web_sessions",
            "deletion_requests",
            "used_signed_requests",
        } <= tables
        assert {"ig_profiles", "feed_items"} <= tables
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []


def test_migration_turns_each_post_into_a_one_item_post_and_back(make_app):
    """Posts made before carousels keep their image, thumbnail, size and alt
    text as item 0 (and get them back on a downgrade); their image hash stays
    on the post; a draft saved without an image or date gets no item."""
    from flask_migrate import downgrade
    from flask_migrate import upgrade

    app = make_app()
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(revision="c3ca0ef29c80")
        db.session.execute(
            text(
                "INSERT INTO users (id, ig_account_id, ig_username, "
                "profile_picture_url, page_name, needs_reauth, timezone, created_at) "
                "VALUES (1, '17841400000000001', 'a', '', '', false, 'UTC', "
                "CURRENT_TIMESTAMP)"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO posts (id, user_id, status, scheduled_at, caption, "
                "alt_text, filename, thumbnail, image_sha256, width, height, "
                "created_at, updated_at, attempts, graph_calls, status_checks, "
                "containers_created, container_stale, container_ready) VALUES "
                "(7, 1, 'scheduled', CURRENT_TIMESTAMP, 'hi', 'A boat', 'a.jpg', "
                "'a.thumb.jpg', 'ab12', 1080, 1350, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, 0, 0, 0, 0, false, false), "
                "(8, 1, 'draft', NULL, 'idea', '', NULL, NULL, NULL, 0, 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, 0, 0, 0, false, false)"
            )
        )
        db.session.commit()
        upgrade()
        post = db.session.get(Post, 7)
        assert (post.media_type, post.collaborators, post.first_comment) == (
            "IMAGE",
            [],
            "",
        )
        assert post.comment_status is None
        (item,) = post.media
        assert (item.position, item.filename, item.thumbnail) == (
            0,
            "a.jpg",
            "a.thumb.jpg",
        )
        assert (item.width, item.height, item.alt_text, item.user_tags) == (
            1080,
            1350,
            "A boat",
            [],
        )
        assert post.filename == "a.jpg" and post.alt_text == "A boat"
        assert post.image_sha256 == "ab12"
        draft = db.session.get(Post, 8)
        assert (draft.status, draft.scheduled_at, draft.media) == ("draft", None, [])
        assert draft.filename is None and draft.image_sha256 is None
        db.session.remove()
        downgrade(revision="c3ca0ef29c80")
        rows = db.session.execute(
            text(
                "SELECT filename, thumbnail, width, alt_text, image_sha256, "
                "scheduled_at IS NULL FROM posts ORDER BY id"
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            ("a.jpg", "a.thumb.jpg", 1080, "A boat", "ab12", False),
            (None, None, 0, "", None, True),
        ]
        db.session.remove()
        upgrade()
