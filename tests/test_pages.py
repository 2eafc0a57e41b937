"""Render every page through the test client and check what people and tests rely
on: labels, button texts, CSRF fields, and nothing the Content-Security-Policy
would block (inline scripts, inline styles, inline event handlers).
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from app import create_app
from models import AccountAccess
from models import DeletionRequest
from models import Person
from models import Post
from models import User
from models import db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
POST_FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", re.I | re.S)


def pages_config(tmp_path, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "pages-test",
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "SCHEDULER_ENABLED": False,
        "FB_APP_ID": "1234567890123456",
        "FB_APP_SECRET": "s",
        "FB_ENDPOINT": "http://127.0.0.1:9/v21.0/",
        "DEMO": False,
        "WTF_CSRF_ENABLED": False,
        "UPLOAD_FOLDER": str(tmp_path / "u"),
        "STAGING_FOLDER": str(tmp_path / "s"),
    }
    config.update(overrides)
    return config


@pytest.fixture
def pages_app(tmp_path):
    app = create_app(pages_config(tmp_path))
    with app.app_context():
        db.create_all()
        user = User(
            ig_account_id="17841400000000001",
            ig_username="demo",
            page_name="Demo Page",
            profile_picture_url="https://example.com/pic.jpg",
            timezone="Europe/Paris",
            access_token="tok",
            token_expires_at=datetime.now(UTC) + timedelta(days=5),
            quota_usage=3,
            quota_total=100,
        )
        person = Person(fb_user_id="10000000000001", name="Demo User")
        db.session.add_all([user, person])
        db.session.flush()
        db.session.add(AccountAccess(person_id=person.id, user_id=user.id))
        db.session.commit()
        app.config["PAGES_USER_ID"] = user.id
        app.config["PAGES_PERSON_ID"] = person.id
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def pages_add_post(app, status="scheduled", hours=24, **fields) -> int:
    """Add a post for the test user straight into the database."""
    with app.app_context():
        post = Post(
            user_id=app.config["PAGES_USER_ID"],
            caption=fields.pop("caption", "A #sunset over the sea"),
            alt_text=fields.pop("alt_text", ""),
            filename=f"img{hours}.jpg",
            thumbnail=f"thumb{hours}.jpg",
            width=1080,
            height=1350,
        )
        post.schedule(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours))
        if status == "published":
            post.mark_published("media1", datetime.now(UTC) - timedelta(hours=1))
            post.filename = None
            post.permalink = "https://www.instagram.com/p/abc/"
        elif status == "failed":
            post.fail("The image could not be fetched by Instagram.")
        elif status == "publishing":
            post.status = "publishing"
        for key, value in fields.items():
            setattr(post, key, value)
        db.session.add(post)
        db.session.commit()
        return post.id


@pytest.fixture
def pages_client(pages_app):
    client = pages_app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = pages_app.config["PAGES_USER_ID"]
        session["person_id"] = pages_app.config["PAGES_PERSON_ID"]
    return client


def pages_get(client, url) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    html = resp.get_data(as_text=True)
    pages_assert_csp_safe(html)
    return html


def pages_assert_csp_safe(html: str) -> None:
    assert 'style="' not in html
    assert "<style" not in html.lower()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html)
    for form in POST_FORM.findall(html):
        assert 'name="csrf_token"' in form
    assert '<meta name="csrf-token" content="' in html


def test_templates_have_no_inline_script_style_or_handlers():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        assert 'style="' not in text, path
        assert "<style" not in text.lower(), path
        assert "onclick=" not in text.lower(), path
        assert not INLINE_SCRIPT.search(text), path
        assert not INLINE_HANDLER.search(text), path


def test_home_grid_with_posts(pages_app, pages_client):
    first = pages_add_post(pages_app, hours=48, alt_text="A red boat")
    second = pages_add_post(pages_app, hours=24, caption="")
    pages_add_post(pages_app, "failed", hours=12)
    pages_add_post(pages_app, "publishing", hours=1)
    pages_add_post(pages_app, "published", hours=-48)
    html = pages_get(pages_client, "/")
    assert 'class="grid"' in html
    assert 'alt="A red boat"' in html
    assert 'alt="Scheduled post"' in html
    assert 'alt="A #sunset over the sea"' in html
    assert html.count("tile-scheduled") == 2
    # Scheduled tiles can be dragged by their handle, and only by it.
    assert html.count('class="tile-handle') == 2
    assert "Move earlier" in html and "Move later" in html
    assert f'formaction="/post/{first}/move"' in html
    assert f'href="/post/{second}/edit"' in html
    assert 'name="direction" value="earlier"' in html
    assert "The image could not be fetched by Instagram." in html
    assert "data-status-url=" in html
    assert "Publishing quota: 3 of 100 posts in the last 24 hours" in html
    assert "Your Instagram login expires on" in html
    assert 'aria-label="Main"' in html and ">Log out</button>" in html
    assert "Create your first post" not in html


def test_home_empty_state(pages_client):
    html = pages_get(pages_client, "/")
    assert "Create your first post" in html
    assert 'href="/post/add"' in html


def test_add_page_fields(pages_client):
    html = pages_get(pages_client, "/post/add")
    assert 'enctype="multipart/form-data"' in html
    # The composer's picker keeps main's field name "image" (field errors).
    for field in ("image", "caption", "collaborators", "first_comment", "date"):
        assert f'for="{field}"' in html and f'id="{field}"' in html
    for text in ("Media", "Caption", "Collaborators", "First comment", "Publish at"):
        assert f">{text}</label>" in html
    # Photos, and videos for carousels (ospost/carousel_videos.py).
    assert (
        'accept="image/jpeg,image/png,image/webp,image/heic,image/heif,'
        'video/mp4,video/quicktime,video/webm"'
    ) in html
    assert re.search(r'id="image"[^>]* multiple', html)
    assert 'maxlength="1000"' in html  # each image's alt text
    assert 'type="datetime-local"' in html
    assert ">Schedule post</button>" in html
    for ratio in ("4:5", "1:1", "1.91:1", "Free"):
        assert f">{ratio}</button>" in html
    assert ">Tag people</button>" in html
    assert "up to 3 Instagram usernames" in html
    assert "Europe/Paris" in html
    assert 'type="module" src="/static/js/pages/add.js"' in html


def test_add_page_keeps_input_after_error(pages_client):
    resp = pages_client.post(
        "/post/add",
        data={
            "caption": "kept caption",
            "collaborators": "@jane.doe",
            "first_comment": "kept comment",
            "date": "",
        },
    )
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    pages_assert_csp_safe(html)
    assert "kept caption" in html and 'value="@jane.doe"' in html
    assert ">kept comment</textarea>" in html
    assert 'role="alert"' in html


def test_edit_page_scheduled(pages_app, pages_client):
    post_id = pages_add_post(pages_app, hours=30)
    html = pages_get(pages_client, f"/post/{post_id}/edit")
    for field in ("image", "caption", "static-alt-1", "first_comment", "date"):
        assert f'for="{field}"' in html
    # Without JavaScript the current image stays, its alt text editable.
    assert ">Alt text for image 1</label>" in html
    assert 'name="item" value="keep:' in html
    assert ">Save changes</button>" in html
    assert ">Post now</button>" in html
    assert ">Remove post</button>" in html
    assert 'data-confirm-title="Remove this post?"' in html
    assert 'data-confirm-title="Publish to @demo now?"' in html
    assert f'action="/post/{post_id}/publish"' in html
    assert f'action="/post/{post_id}/remove"' in html
    assert re.search(r'id="date"[^>]*value="\d{4}-\d\d-\d\dT\d\d:\d\d"', html, re.S)
    assert "Retry" not in html


def test_edit_page_failed(pages_app, pages_client):
    post_id = pages_add_post(pages_app, "failed")
    html = pages_get(pages_client, f"/post/{post_id}/edit")
    assert "The image could not be fetched by Instagram." in html
    assert ">Retry</button>" in html
    assert ">Reschedule</button>" in html
    assert ">Save changes</button>" in html


def test_edit_page_published_is_read_only(pages_app, pages_client):
    post_id = pages_add_post(pages_app, "published", hours=-5)
    html = pages_get(pages_client, f"/post/{post_id}/edit")
    assert "View on Instagram" in html
    assert 'href="https://www.instagram.com/p/abc/"' in html
    assert ">Remove post</button>" in html
    assert "stays on Instagram" in html
    assert "Save changes" not in html and "Post now" not in html
    assert 'src="/uploads/thumb-5.jpg"' in html


def test_edit_page_publishing_polls(pages_app, pages_client):
    post_id = pages_add_post(pages_app, "publishing")
    html = pages_get(pages_client, f"/post/{post_id}/edit")
    assert "data-poll-on-load" in html
    assert "Remove post" not in html and "Save changes" not in html


def test_account_page(pages_client):
    html = pages_get(pages_client, "/account")
    assert 'alt="Profile picture of @demo"' in html
    assert "@demo" in html and "Demo Page" in html
    assert "Instagram login expires" in html and "expiry-warning" in html
    assert ">Time zone</label>" in html and 'name="timezone"' in html
    assert '<option value="Europe/Paris" selected>' in html
    assert ">Save time zone</button>" in html
    assert ">Delete account</button>" in html and 'action="/account/delete"' in html
    assert "3 of 100 posts in the last 24 hours" in html


def test_login_page(pages_app):
    html = pages_get(pages_app.test_client(), "/login?next=/post/add")
    assert "Log in with Facebook" in html
    assert "Continue with demo account" not in html
    assert 'data-app-id="1234567890123456"' in html
    assert 'data-version="v21.0"' in html
    assert 'data-login-url="/login"' in html
    assert 'data-next="/post/add"' in html
    assert "business or creator" in html
    assert "Log out" not in html


def test_login_page_demo_mode(tmp_path):
    app = create_app(pages_config(tmp_path, DEMO=True))
    with app.app_context():
        db.create_all()
        html = pages_get(app.test_client(), "/login")
        db.session.remove()
        db.engine.dispose()
    assert "Continue with demo account" in html
    assert 'data-demo-url="/login/demo"' in html
    assert "Log in with Facebook" in html


def test_layout_shows_reauth_banner_and_flashes(pages_app, pages_client):
    with pages_app.app_context():
        db.session.get(User, pages_app.config["PAGES_USER_ID"]).needs_reauth = True
        db.session.commit()
    with pages_client.session_transaction() as session:
        session["_flashes"] = [("success", "New post scheduled")]
    html = pages_get(pages_client, "/")
    assert "Instagram disconnected — log in again to reconnect" in html
    assert re.search(r'alert-success[^>]*role="alert"[^<]*>\s*New post scheduled', html)


def test_public_pages(pages_app):
    client = pages_app.test_client()
    html = pages_get(client, "/privacy")
    assert "Delete account" in html and "encrypted" in html
    with pages_app.app_context():
        req = DeletionRequest(
            fb_user_id="99", accounts_deleted=2, completed_at=datetime.now(UTC)
        )
        db.session.add(req)
        db.session.commit()
        code = req.confirmation_code
    html = pages_get(client, f"/facebook/deletion/{code}")
    assert f"Deletion request <code>{code}</code>: completed on" in html
    assert "2 accounts deleted" in html


def test_error_page(pages_client):
    resp = pages_client.get("/post/999999/edit")
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    pages_assert_csp_safe(html)
    assert "404" in html and "Back to your posts" in html
