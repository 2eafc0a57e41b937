"""Reading and storing the Reel and Story forms.

A Reel is one video with a caption, collaborators, a first comment, a cover
(a frame: ``thumb_offset`` in ms, or an uploaded 9:16 image) and "Also share
to feed"; a Story is one photo or one video and a date (Meta ignores a
Story's caption, so the form has none). Every problem is reported at its
field, all at once, and nothing is left behind by a refused or failed upload.

The video is checked in a child process (``ospost.media``: what it really
is, whether it can be posted) from a work folder, then kept as sent in the
media store (``ospost.media.workspace``); its conversion runs in the
background afterwards (``ospost.reels``).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import secrets
from dataclasses import dataclass
from dataclasses import field

from flask import current_app
from flask import request
from PIL import Image

from models import Post
from models import PostMedia
from models import User
from models import db
from ospost import images
from ospost.media import jobs
from ospost.media import workspace
from ospost.media.covers import Cover
from ospost.media.covers import cover_from_upload
from ospost.media.probe import looks_like_photo
from ospost.media.specs import FITS
from ospost.media.specs import VideoRejected
from ospost.post_form import Conflict
from ospost.post_form import FormError
from ospost.post_form import parse_text_fields
from ospost.post_save import delete_files
from ospost.post_save import release_connection
from ospost.post_save import undone_on_failure
from ospost.reel_models import PostType
from ospost.reel_models import PostVideo

log = logging.getLogger(__name__)

# The upload request checks the file in a converter slot too; when background
# conversions hold them all this long, it answers "busy, try again" instead of
# keeping the person (and a web worker) waiting.
UPLOAD_SLOT_WAIT = 20.0


@dataclass
class ReelInput:
    """A checked Reel or Story form; files written so far are in ``written``."""

    post_type: str
    caption: str = ""
    collaborators: list[str] = field(default_factory=list)
    first_comment: str = ""
    when: object = None
    warning: str | None = None
    fit: str = "pad"
    share_to_feed: bool = True
    thumb_offset_ms: int | None = None
    source: str | None = None  # the saved video upload
    duration_ms: int = 0
    cover: Cover | None = None  # uploaded cover, or the frame of the upload
    cover_uploaded: bool = False
    photo: images.ProcessedImage | None = None  # a Story's photo
    # "frame" (thumb_offset) or "image" (an uploaded cover, new or kept).
    cover_source: str = "frame"
    written: list[str] = field(default_factory=list)

    @property
    def new_media(self) -> bool:
        """A new video or Story photo came with the form."""
        return self.source is not None or self.photo is not None


def read_reel(
    user: User,
    now,
    post_type: str,
    *,
    editing: Post | None = None,
    draft: bool = False,
) -> ReelInput:
    """The Reel or Story form (``post_type``, from the address) and its
    files, checked together.

    ``editing``: the saved post being changed (its video may then stay);
    ``draft``: no date needed, Instagram's text limits not applied yet.
    Raises FormError with the fields at fault; the files it saved are removed
    again then. The request's database connection goes back to the pool
    before the upload is read.
    """
    form = request.form
    if post_type not in (PostType.REEL, PostType.STORY):
        raise FormError("Choose Reel or Story.")
    data = ReelInput(post_type)
    errors: dict[str, str] = {}
    try:
        text = parse_text_fields(form, user, now, editing, draft=draft)
        if post_type == PostType.STORY:
            text.caption, text.first_comment, text.collaborators = "", "", []
        data.caption, data.collaborators = text.caption, text.collaborators
        data.first_comment, data.when, data.warning = (
            text.first_comment,
            text.when,
            text.warning,
        )
    except FormError as exc:
        errors.update(exc.fields)
    video = editing.video if editing is not None else None
    kept_cover = bool(video and video.cover_uploaded)
    release_connection()
    _read_options(form, data, errors)
    try:
        _read_media(user, data, errors, required=editing is None)
    except BaseException:
        delete_files(user, *data.written)
        raise
    if (
        post_type == PostType.REEL
        and data.cover_source == "image"
        and not (data.cover_uploaded or kept_cover)
        and not errors.keys() & {"cover", "media"}
    ):
        errors["cover"] = (
            "Choose the cover image, or pick a frame of the video instead."
        )
    if errors:
        delete_files(user, *data.written)
        raise FormError(fields=errors)
    return data


def _read_options(form, data: ReelInput, errors: dict[str, str]) -> None:
    data.fit = form.get("fit", "pad")
    if data.fit not in FITS:
        errors["fit"] = "Choose black bars or cropping to make the video 9:16."
    data.share_to_feed = form.get("share_to_feed") in ("1", "on", "true")
    cover = request.files.get("cover")
    sent = "image" if cover is not None and cover.filename else "frame"
    data.cover_source = form.get("cover_source") or sent
    if data.cover_source not in ("frame", "image"):
        errors["cover"] = "Choose a frame of the video or an image as the cover."
    raw = form.get("thumb_offset", "").strip()
    if raw:
        try:
            data.thumb_offset_ms = int(float(raw))
        except ValueError:
            data.thumb_offset_ms = -1
        if data.thumb_offset_ms < 0:
            errors["thumb_offset"] = "Pick the cover frame with the slider."


def _read_media(
    user: User, data: ReelInput, errors: dict[str, str], *, required: bool = True
) -> None:
    upload = request.files.get("media")
    if upload is None or not upload.filename:
        if required:
            what = "video" if data.post_type == PostType.REEL else "photo or video"
            errors["media"] = f"Choose a {what} to post."
        else:  # editing: the saved video stays; a new cover may still come
            _read_cover(data, errors)
        return
    head = upload.stream.read(16)
    upload.stream.seek(0)
    if data.post_type == PostType.STORY and looks_like_photo(head):
        try:
            data.photo = images.process_upload(
                upload.stream,
                current_app.extensions.get("decode_budget"),
                shape=images.STORY_SHAPE,
            )
        except images.ImageRejected as exc:
            errors["media"] = exc.message
        return
    try:
        _read_video(user, upload.stream, data)
    except VideoRejected as exc:
        errors["media"] = exc.message
        return
    _read_cover(data, errors)


def _read_cover(data: ReelInput, errors: dict[str, str]) -> None:
    """A Reel's uploaded cover image, when the form chose one and sent it."""
    cover = request.files.get("cover")
    if data.post_type != PostType.REEL or data.cover_source != "image":
        return
    if cover is not None and cover.filename:
        try:
            data.cover = cover_from_upload(cover.stream)
            data.cover_uploaded = True
        except images.ImageRejected as exc:
            errors["cover"] = exc.message


def _read_video(user: User, stream, data: ReelInput) -> None:
    """Check the upload in a work folder, take its cover frame, then keep it
    as sent in the media store (local folders or S3) for the conversion."""
    store = current_app.extensions["media_store"]
    limits = dataclasses.replace(jobs.configure(), slot_wait=UPLOAD_SLOT_WAIT)
    name = f"{secrets.token_hex(16)}.upload"
    with workspace.workspace() as folder:
        path = workspace.receive(stream, folder, name)
        info = jobs.inspect_upload(path, data.post_type, limits=limits)
        data.duration_ms = round(info.duration * 1000)
        if data.thumb_offset_ms is not None and data.thumb_offset_ms > data.duration_ms:
            data.thumb_offset_ms = data.duration_ms
        # Shown on the grid until the conversion makes the real one.
        data.cover = jobs.make_cover(path, data.thumb_offset_ms or 0, limits=limits)
        data.written.append(name)
        workspace.keep(store, user.ig_account_id, name, path)
    data.source = name


def store_cover(user: User, data: ReelInput) -> PostMedia:
    """Store the new cover pictures (a Story's photo, an uploaded cover or a
    frame) and return their row; the form's files are removed if that fails."""
    store = current_app.extensions["media_store"]
    if data.photo is not None:
        poster, tile = data.photo.jpeg, data.photo.thumbnail
        size = (data.photo.width, data.photo.height)
    else:
        assert data.cover is not None
        poster, tile = data.cover.poster, data.cover.tile
        with Image.open(io.BytesIO(poster)) as im:
            size = im.size
    try:
        names = store.save(user.ig_account_id, poster, tile)
    except OSError:
        delete_files(user, *data.written)
        raise
    data.written += names
    filename, thumbnail = names
    return PostMedia(
        filename=filename, thumbnail=thumbnail, width=size[0], height=size[1]
    )


def create_reel(user: User, data: ReelInput, *, draft: bool = False) -> int:
    """Store the cover pictures and insert the post (scheduled, or a draft),
    its cover row and its video in one short transaction; returns its id."""
    cover = store_cover(user, data)
    with undone_on_failure(user, *data.written):
        if db.session.get(User, user.id) is None:
            raise Conflict("Your account was deleted in the meantime.")
        post = Post(user_id=user.id, post_type=data.post_type, caption=data.caption)
        post.set_media([cover])
        post.collaborators = data.collaborators
        post.set_first_comment(data.first_comment)
        if data.source:
            post.video = PostVideo(
                source=data.source,
                fit=data.fit,
                duration_ms=data.duration_ms,
                thumb_offset_ms=None if data.cover_uploaded else data.thumb_offset_ms,
                cover_uploaded=data.cover_uploaded,
                share_to_feed=data.share_to_feed,
            )
        if draft:
            post.make_draft(data.when)
        else:
            post.schedule(data.when)
        db.session.add(post)
        db.session.flush()
        post_id = post.id
        db.session.commit()
    return post_id
