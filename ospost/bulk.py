"""Bulk upload: many photos at once, each kept as a draft with its own centred
crop at one chosen shape, then "Add all to queue".

The page (static/js/pages/bulk.js) sends the files one or two at a time, so
a worker never holds more than a couple of camera photos; each goes through
the same pipeline and decoding budget as the post forms (``images.py``,
``decode_budget``), and a busy server answers 503 with Retry-After, which the
page waits out. A file that cannot be posted is refused alone, with its name
and the reason, and the others go on. Without JavaScript the same route takes
several files in one form post (within ``MAX_CONTENT_LENGTH``), one after the
other. The limits the page applies come from here (``limits()``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from flask import Blueprint
from flask import current_app
from flask import flash
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.datastructures import FileStorage

import helpers
from models import Post
from models import PostMedia
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import decode_budget
from ospost import images
from ospost import planning
from ospost import ratelimit
from ospost import schemas
from ospost.post_form import FormError
from ospost.post_save import release_connection
from ospost.post_save import store_images
from ospost.post_save import undone_on_failure
from ospost.posts import own_post_ids_or_404

log = logging.getLogger(__name__)
bp = Blueprint("bulk", __name__)

# The shapes a batch can be cropped to (width / height); None keeps each
# photo's own shape when Instagram takes it.
RATIOS = {
    "4:5": Fraction(4, 5),
    "1:1": Fraction(1),
    "1.91:1": Fraction(191, 100),
    "original": None,
}
RATIO_LABELS = {
    "4:5": "Portrait 4:5",
    "1:1": "Square 1:1",
    "1.91:1": "Landscape 1.91:1",
    "original": "As shot (if Instagram takes it)",
}
# Bulk photos may come out narrower than 1440 px, down to Instagram's standard
# 1080, when that lets a camera JPEG be decoded at half size or less: a 12 MP
# photo then costs a quarter of the memory (bench/bulk.py).
MIN_WIDTH = 1080
DEFAULTS = {
    "BULK_MAX_FILES": 50,
    # Files the page sends at once: each worker decodes one at a time anyway.
    "BULK_PARALLEL": 2,
}


@bp.record_once
def _defaults(state) -> None:
    for name, value in DEFAULTS.items():
        state.app.config.setdefault(name, value)


def limits() -> dict:
    """What the page checks before sending (the server checks again)."""
    cfg = current_app.config
    return {
        "max_files": cfg["BULK_MAX_FILES"],
        "max_bytes": cfg["MAX_CONTENT_LENGTH"],
        "max_size": helpers.file_size(cfg["MAX_CONTENT_LENGTH"]),
        "parallel": cfg["BULK_PARALLEL"],
    }


@dataclass
class Outcome:
    """One file of a batch: the draft it became, or why it could not."""

    name: str
    post_id: int | None = None
    thumbnail: str | None = None
    error: str | None = None

    def payload(self) -> dict:
        if self.error:
            return {"ok": False, "name": self.name, "error": self.error}
        thumb = url_for("posts.upload", name=self.thumbnail)
        return {"ok": True, "name": self.name, "id": self.post_id, "thumb": thumb}


def display_name(upload: FileStorage) -> str:
    """The file's name as the person knows it, short enough for a message."""
    name = (upload.filename or "photo").replace("\\", "/").rsplit("/", 1)[-1]
    return name[:80] or "photo"


def make_draft(user: User, processed: images.ProcessedImage) -> tuple[int, str]:
    """Store one processed photo as a new draft; returns its id and thumbnail."""
    filename, thumb = store_images(user, processed)
    with undone_on_failure(user, filename, thumb):
        if db.session.get(User, user.id) is None:
            raise FormError("Your account was deleted in the meantime.")
        post = Post(user_id=user.id, caption="")
        item = PostMedia(
            filename=filename,
            thumbnail=thumb,
            width=processed.width,
            height=processed.height,
        )
        post.set_media([item])
        post.image_sha256 = hashlib.sha256(processed.jpeg).hexdigest()
        post.make_draft(None)
        db.session.add(post)
        db.session.flush()
        post_id = post.id
        db.session.commit()
    return post_id, thumb


def draft_from(user: User, upload: FileStorage, ratio: Fraction | None) -> Outcome:
    """Turn one uploaded file into a draft, or say why it cannot be one.

    decode_budget.Busy propagates: nothing was saved, the page tries again.
    """
    name = display_name(upload)
    budget = current_app.extensions["decode_budget"]
    release_connection()  # no pooled connection is held while decoding
    try:
        processed = images.process_upload(
            upload.stream, budget, ratio=ratio, min_width=MIN_WIDTH
        )
    except images.ImageRejected as exc:
        return Outcome(name, error=str(exc))
    finally:
        upload.close()  # its spooled copy goes now, not at the request's end
    post_id, thumb = make_draft(user, processed)
    return Outcome(name, post_id, thumb)


def _ratio(raw: str | None) -> Fraction | None:
    if raw not in RATIOS:
        raise FormError("Choose the shape to crop the photos to.")
    return RATIOS[raw]


# -- routes ------------------------------------------------------------------


@bp.get("/bulk")
@helpers.login_required
def page():
    """Bulk upload: drop or pick up to 50 photos; each becomes a draft."""
    return render_template(
        "bulk/index.html",
        bulk_limits=limits(),
        ratios=RATIO_LABELS,
        has_slots=bool(planning.user_slots(g.user)),
    )


@bp.post("/bulk/upload")
@ratelimit.bulk
@helpers.login_required
def upload():
    """Make a draft of each photo sent (the page sends one per request)."""
    files = [f for f in request.files.getlist("photo") if f and f.filename]
    try:
        ratio = _ratio(request.form.get("ratio"))
        if not files:
            raise FormError("Choose one or more photos.")
        if len(files) > current_app.config["BULK_MAX_FILES"]:
            raise FormError(f"Send at most {limits()['max_files']} photos at once.")
        outcomes = [draft_from(g.user, f, ratio) for f in files]
    except FormError as exc:
        return _refuse(str(exc), 400)
    except decode_budget.Busy as exc:
        response = make_response(_refuse(_BUSY, 503))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if helpers.wants_json():
        return _json_outcomes(outcomes)
    _flash_outcomes(outcomes)
    return redirect(url_for("bulk.page"))


_BUSY = "Ospost is busy with other photos; this one was not saved yet. Trying again…"


def _refuse(message: str, status: int):
    if helpers.wants_json():
        return {"ok": False, "error": message}, status
    flash(message, "danger")
    return redirect(url_for("bulk.page"))


def _json_outcomes(outcomes: list[Outcome]):
    if len(outcomes) == 1:
        one = outcomes[0].payload()
        return one, 200 if one["ok"] else 400
    return {"ok": True, "files": [o.payload() for o in outcomes]}


def _flash_outcomes(outcomes: list[Outcome]) -> None:
    made = [o for o in outcomes if not o.error]
    if made:
        flash(f"{len(made)} of {len(outcomes)} photos are now drafts.", "success")
    for bad in (o for o in outcomes if o.error):
        flash(f"{bad.name}: {bad.error}", "danger")


@bp.post("/bulk/queue")
@ratelimit.mutations
@helpers.login_required
def queue_all():
    """Add all to queue: each draft sent takes the next free slot, in order."""
    body = schemas.parse_json(
        schemas.BulkQueueRequest,
        what="the drafts to queue as a list of post ids",
        max_bytes=schemas.REORDER_MAX_BYTES,
    )
    own_post_ids_or_404(body.ids)
    try:
        moves, left, why = queue_drafts(g.user, body.ids, now_utc())
    except FormError as exc:
        db.session.rollback()
        return {"ok": False, "error": str(exc)}, 400
    db.session.commit()
    planning.wake(moves)
    tz = g.user.timezone
    return {
        "ok": True,
        "message": queued_message(moves, left, why, tz),
        "moves": [m.payload(tz) for m in moves],
        "left": left,
        "undo": planning.undo_token(g.user, moves) if moves else None,
    }


def queue_drafts(
    user: User, ids: list[int], now: datetime
) -> tuple[list[planning.Move], int, str | None]:
    """Give each of the user's drafts ``ids`` the next free slot, in order.

    Stops at the first that cannot be queued (the slots ran out); returns the
    moves, how many drafts are left and why. Raises FormError when none can be.
    """
    posts = [db.session.get(Post, i, with_for_update=True) for i in dict.fromkeys(ids)]
    drafts = [
        p for p in posts if p and p.user_id == user.id and p.status == PostStatus.DRAFT
    ]
    if not drafts:
        raise FormError("None of these photos is a draft any more.")
    moves: list[planning.Move] = []
    for n, post in enumerate(drafts):
        try:
            new = planning.add_to_queue(user, post, now)
        except FormError as exc:
            if not moves:
                raise
            log.info("bulk queue stopped after %s posts: %s", n, exc)
            return moves, len(drafts) - n, str(exc)
        planning.apply(new)
        db.session.flush()  # the next slot search sees this one taken
        moves += new
    return moves, 0, None


def queued_message(
    moves: list[planning.Move], left: int, why: str | None, tz: str
) -> str:
    """What Add all to queue did: how many, from when to when, what is left."""
    first = helpers.format_local(moves[0].after, tz)
    last = helpers.format_local(moves[-1].after, tz)
    text = (
        f"Added {len(moves)} post{'s' if len(moves) != 1 else ''} to the queue, "
        f"from {first} to {last}."
    )
    if left:
        rest = "1 stays a draft" if left == 1 else f"{left} stay drafts"
        text += f" {rest}: {why}"
    return text
