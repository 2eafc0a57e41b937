"""The live profile's routes: Refresh, and the feed thumbnails (owner-only)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import url_for
from sqlalchemy import select

import helpers
from models import FeedItem
from models import db
from ospost.feed.refresh import refresher

bp = Blueprint("feed", __name__)


@bp.post("/feed/refresh")
@helpers.login_required
def refresh():
    """Read the account's profile and newest posts from Instagram now."""
    outcome = refresher.refresh(g.user.id, manual=True)
    if helpers.wants_json():
        key = "message" if outcome.ok else "error"
        return {"ok": outcome.ok, key: outcome.message}, outcome.status
    category = "success" if outcome.ok else "warning"
    if outcome.status >= 500:
        category = "danger"
    flash(outcome.message, category)
    return redirect(url_for("posts.index", _anchor="feed"))


@bp.get("/feed/thumbnails/<name>")
@helpers.login_required
def thumbnail(name: str):
    """Serve a thumbnail of the current user's Instagram feed (404 for others')."""
    owned = db.session.scalar(
        select(FeedItem.id).where(
            FeedItem.user_id == g.user.id, FeedItem.thumbnail == name
        )
    )
    if owned is None:
        abort(404)
    store = current_app.extensions["media_store"]
    # The name changes with the picture, so browsers may keep it a day.
    return store.send_feed_thumbnail(g.user.ig_account_id, name, max_age=86400)


def compact_count(value) -> str:
    """Follower counts the way Instagram shows them: 987, 9,876, 98.7K, 1.2M."""
    if not isinstance(value, int):
        return "–"
    if value < 10_000:
        return f"{value:,}"
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if value >= size:
            shown = f"{value / size:.1f}".removesuffix(".0")
            return shown + suffix
    return str(value)  # unreachable: every value >= 10,000 matched above
