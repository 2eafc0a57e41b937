"""Changing a saved Reel or Story (or keeping it as a draft).

The form is the composer's (``ospost.reel_upload.read_reel`` with the post
being edited): caption, first comment, collaborators, time, "Also share to
feed" and the cover of a Reel, and for both kinds a new video (or a Story's
new photo), which is optional: without one the saved video stays.

The slow parts (a new upload checked and kept, a new cover frame taken from
the saved video) run with no database connection held; the post is then read
again, locked (``post_save.lock_editable``: a post being published or live
answers Conflict), changed and committed in one short transaction. Files the
post no longer uses are removed only after that commit; files this request
wrote are removed if anything fails before it.

A new video restarts the conversion. So does a new cover while the video is
still converting (the conversion makes the cover from its result): the
running conversion loses its claim (``job_owner`` cleared), so it can neither
report progress nor save its result over the new one (``ospost.reels``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from models import Post
from models import PostMedia
from models import User
from models import db
from models import now_utc
from ospost.blobstore import BlobNotFound
from ospost.media import jobs
from ospost.media import workspace
from ospost.media.specs import VideoRejected
from ospost.post_form import Conflict
from ospost.post_form import FormError
from ospost.post_save import delete_files
from ospost.post_save import lock_editable
from ospost.post_save import release_connection
from ospost.post_save import reschedule
from ospost.post_save import undone_on_failure
from ospost.reel_models import PostType
from ospost.reel_models import PostVideo
from ospost.reel_models import VideoStatus
from ospost.reel_upload import UPLOAD_SLOT_WAIT
from ospost.reel_upload import ReelInput
from ospost.reel_upload import store_cover
from ospost.reels import conversions
from ospost.storage import staged_names

log = logging.getLogger(__name__)


@dataclass
class Saved:
    """What an edit left to do after its commit."""

    old_files: list[str]  # no longer the post's: delete them
    stale_copies: list[str]  # public copies of the old media: unstage them
    wake_at: datetime | None  # when the publisher should look (None: a draft)
    convert: bool  # start the (new) conversion


def update_reel(
    user: User, post_id: int, data: ReelInput, *, draft: bool = False
) -> Saved:
    """Store any new cover or media and change the post in one short
    transaction. Raises Conflict (removed, being published, live) or
    FormError (a cover frame that cannot be taken)."""
    current = db.session.get(Post, post_id)
    if current is None or current.user_id != user.id:
        raise Conflict("This post was removed in the meantime.")
    offset = _new_frame(current, data)
    if offset is not None:
        data.cover = _frame_of_saved_video(user, current.video, offset)
        data.thumb_offset_ms = data.cover.offset_ms
    release_connection()
    cover_row = store_cover(user, data) if data.cover or data.photo else None
    with undone_on_failure(user, *data.written):
        post = lock_editable(user, post_id)
        if post.post_type != data.post_type:
            raise Conflict("This post changed in the meantime. Reload.")
        stale = staged_names(
            post, [m.filename for m in post.media], current_app.config["SECRET_KEY"]
        )
        old_files, convert = apply_reel(post, data, cover_row)
        if old_files or convert:  # the public copies showed the old media
            post.staged_name = None
        else:
            stale = []
        reschedule(post, data.when, draft=draft)
        post.updated_at = now_utc()  # the grid and strip notice the video row too
        wake_at = None if draft else post.next_attempt_at
        db.session.commit()
    return Saved(old_files, stale, wake_at, convert)


def _new_frame(post: Post, data: ReelInput) -> int | None:
    """The offset of a new cover frame to take from the saved video, or None
    (no video kept, an uploaded cover, or the same frame as before)."""
    video = post.video
    if data.post_type != PostType.REEL or data.new_media or video is None:
        return None
    if data.cover_source != "frame":
        return None
    wanted = data.thumb_offset_ms
    if wanted is None:
        wanted = video.thumb_offset_ms or 0
    if not video.cover_uploaded and wanted == (video.thumb_offset_ms or 0):
        return None
    return min(wanted, video.duration_ms) if video.duration_ms else wanted


def _frame_of_saved_video(user: User, video: PostVideo, offset_ms: int):
    """The cover pictures of the frame at ``offset_ms`` of the saved video
    (the converted one when ready, else the upload as sent)."""
    name = video.filename or video.source
    if not name:
        raise FormError(
            fields={"media": "The saved video is gone; upload the video again."}
        )
    store = current_app.extensions["media_store"]
    limits = dataclasses.replace(jobs.configure(), slot_wait=UPLOAD_SLOT_WAIT)
    account = user.ig_account_id
    try:
        with workspace.workspace() as folder:
            path = workspace.fetch(store, account, name, folder)
            return jobs.make_cover(path, offset_ms, limits=limits)
    except BlobNotFound:
        raise FormError(
            fields={"media": "The saved video is gone; upload the video again."}
        ) from None
    except VideoRejected as exc:
        raise FormError(fields={"thumb_offset": exc.message}) from None


def apply_reel(
    post: Post, data: ReelInput, cover_row: PostMedia | None
) -> tuple[list[str], bool]:
    """Give ``post`` the form's values (and its new cover row); returns the
    files it no longer uses and whether its video must be converted (again)."""
    old: list[str] = []
    post.caption = data.caption
    post.collaborators = data.collaborators
    post.set_first_comment(data.first_comment)
    if cover_row is not None:
        old += [n for m in post.media for n in (m.filename, m.thumbnail) if n]
        post.set_media([cover_row])
        post.image_sha256 = None
    video = post.video
    convert = False
    if data.photo is not None and video is not None:  # a Story's photo now
        old += video.file_names()
        post.video = None
        video = None
    elif data.source is not None:
        if video is None:  # a Story's photo becomes a video
            video = post.video = PostVideo()
        old += video.file_names()
        _new_video(video, data)
        convert = True
    if video is not None and data.post_type == PostType.REEL:
        video.share_to_feed = data.share_to_feed
        if cover_row is not None:
            video.cover_uploaded = data.cover_uploaded
            frame = None if data.cover_uploaded else data.thumb_offset_ms
            video.thumb_offset_ms = frame
            if video.status == VideoStatus.CONVERTING and not convert:
                # The running conversion would put back the cover it was
                # started with: it starts again with the new one.
                _restart(video)
                convert = True
    return old, convert


def _new_video(video: PostVideo, data: ReelInput) -> None:
    """The row describes the new upload, to be converted from scratch."""
    video.source, video.filename = data.source, None
    video.fit, video.duration_ms = data.fit, data.duration_ms
    video.width = video.height = 0
    video.changes, video.error = [], None
    video.thumb_offset_ms = None if data.cover_uploaded else data.thumb_offset_ms
    video.cover_uploaded = data.cover_uploaded
    _restart(video)


def _restart(video: PostVideo) -> None:
    video.status, video.progress = VideoStatus.CONVERTING, 0.0
    video.job_owner = video.job_until = None  # a running conversion loses it


def finish_edit(user: User, post_id: int, saved: Saved) -> None:
    """After the commit: remove what the post no longer uses, start the new
    conversion."""
    delete_files(user, *saved.old_files)
    store = current_app.extensions["media_store"]
    for name in saved.stale_copies:
        store.unstage(name)
    if saved.convert:
        conversions.start(post_id)
