"""Videos in a carousel, as the New post and Edit post forms send them.

Instagram lets a carousel mix photos and videos (graph-api.md §7.4). A file
of the form's ``media`` field that starts like a video (never trusting its
name) is checked here in a work folder, in a converter child like a Reel's
upload (``ospost.media``: a real video, 3-60 s, Meta's carousel-video
limits), kept as sent in the media store, and converted in the background
afterwards (``ospost.reels``) to the carousel's shape: its first item's,
since Instagram crops every item to it. ``video_fit`` says how: black bars
("pad", the default) or the middle ("crop").

Each video item gets a ``PostMedia`` row like a photo: its poster (the first
frame in the carousel's shape, replaced by the converted video's own once
ready) is what the composer, the post page and the grid show, and its
``PostVideo`` row (``post_media_id``) holds the video. Instagram takes no alt
text and no people tags on a video item, so a form giving them is refused.
"""

from __future__ import annotations

import dataclasses
import io
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

from flask import current_app
from flask import request
from PIL import Image
from werkzeug.datastructures import FileStorage

import helpers
from models import Post
from models import PostMedia
from models import User
from ospost import images
from ospost.media import jobs
from ospost.media import workspace
from ospost.media.covers import Cover
from ospost.media.covers import cover_in_shape
from ospost.media.probe import looks_like_photo
from ospost.media.probe import looks_like_video
from ospost.media.specs import FITS
from ospost.media.specs import VideoRejected
from ospost.media.specs import spec_for
from ospost.reel_models import PostVideo

# As for a Reel's upload (ospost/reel_upload.py): when background conversions
# hold every converter slot this long, the request answers "busy".
UPLOAD_SLOT_WAIT = 20.0
KIND = "carousel"  # ospost/media/specs.py: 3-60 s, 100 MB
POSTER_WIDTH = 1080
VIDEO_NAME = re.compile(r"\.(mp4|m4v|mov|webm|mkv|avi|3gp|mts)$", re.IGNORECASE)


# Every form that may carry a video (a carousel's, a Reel's or a Story's):
# its body may reach VIDEO_MAX_UPLOAD_MB. deploy/nginx.conf's video location
# lists the same paths.
FORM_ENDPOINTS = (
    "posts.add",
    "posts.edit",
    "calendar.save_new_draft",
    "calendar.save_draft",
    "queue_form.add_new",
    "queue_form.edit_to_queue",
    "reels.add",
    "reels.add_draft",
    "reels.edit",
    "reels.save_draft",
)


def init_app(app) -> None:
    """Let the forms that take videos carry them: their request body may be
    up to VIDEO_MAX_UPLOAD_MB (not the 30 MiB of other requests), raised
    before anything reads the form (the CSRF check parses it)."""

    def allow() -> None:
        if request.endpoint in FORM_ENDPOINTS and request.method == "POST":
            request.max_content_length = app.config["VIDEO_MAX_UPLOAD_MB"] * 1024**2

    app.before_request_funcs.setdefault(None, []).insert(0, allow)

    @app.context_processor
    def _video_limits() -> dict:
        return {"carousel_video_limits": client_limits}


def client_limits() -> dict:
    """What the composer checks of a video before sending (``data-video-limits``)."""
    spec = spec_for(KIND)
    max_bytes = current_app.config["VIDEO_MAX_UPLOAD_MB"] * 1024**2
    return {
        "max_upload_bytes": max_bytes,
        "max_upload_mb": current_app.config["VIDEO_MAX_UPLOAD_MB"],
        "min_s": spec.min_seconds,
        "max_s": spec.max_seconds,
    }


@dataclass
class VideoItem:
    """One checked video of the form, kept in the media store as ``source``."""

    source: str
    duration_ms: int
    size: tuple[int, int]  # the upload's picture as watched
    first_frame: bytes  # JPEG, the whole picture
    cover: Cover | None = None  # the poster and tile in the carousel's shape
    fit: str = "pad"

    @property
    def poster_size(self) -> tuple[int, int]:
        assert self.cover is not None
        with Image.open(io.BytesIO(self.cover.poster)) as im:
            return im.size


def is_video(upload: FileStorage) -> bool:
    """Whether an upload is to be read as a video: it starts like a video
    container (MP4/MOV, WebM, ...), or it is no photo and claims to be a video
    (so a broken one is refused in a video's words). Anything else is read as
    a photo (and refused as one, with why)."""
    head = upload.stream.read(16)
    upload.stream.seek(0)
    if looks_like_photo(head):
        return False
    claimed = (upload.mimetype or "").startswith("video/") or bool(
        VIDEO_NAME.search(upload.filename or "")
    )
    return looks_like_video(head) or claimed


def check_photo_size(upload: FileStorage) -> None:
    """Refuse a photo larger than any other request may be (MAX_CONTENT_LENGTH):
    the post forms take videos, so their bodies may be far bigger."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    size = upload.stream.seek(0, 2)
    upload.stream.seek(0)
    if size > limit:
        raise images.ImageRejected(
            f"This photo is {helpers.file_size(size)}; a photo can be at most "
            f"{helpers.file_size(limit)}."
        )


def read_fit(form) -> str:
    """The form's ``video_fit`` ("pad" or "crop"); FormError-worthy text if odd."""
    fit = form.get("video_fit") or "pad"
    if fit not in FITS:
        raise ValueError(
            "Choose black bars or cropping to fit the videos to the carousel."
        )
    return fit


def read_video(user: User, upload: FileStorage, written: list[str]) -> VideoItem:
    """Check one video upload and keep it as sent; its stored name goes into
    ``written`` at once (for the caller to remove if the post is not saved).

    Raises VideoRejected with a sentence for the person.
    """
    store = current_app.extensions["media_store"]
    limits = dataclasses.replace(jobs.configure(), slot_wait=UPLOAD_SLOT_WAIT)
    name = f"{secrets.token_hex(16)}.upload"
    with workspace.workspace() as folder:
        path = workspace.receive(upload.stream, folder, name)
        info = jobs.inspect_upload(path, KIND, limits=limits)
        frame = jobs.make_cover(path, 0, limits=limits)
        written.append(name)
        workspace.keep(store, user.ig_account_id, name, path)
    return VideoItem(name, round(info.duration * 1000), info.display_size, frame.poster)


def carousel_ratio(first_size: tuple[int, int] | None, videos: list[VideoItem]):
    """The carousel's shape: its first photo's (every photo has it), or with
    a video first and no photo, that video's own, within 4:5 to 1.91:1."""
    if first_size is not None:
        return Fraction(*first_size)
    width, height = videos[0].size
    return min(
        max(Fraction(width, height), images.FEED_SHAPE.min_ratio),
        images.FEED_SHAPE.max_ratio,
    )


def shape(video: VideoItem, ratio: Fraction, fit: str) -> None:
    """Make the video's poster and tile in the carousel's shape."""
    video.fit = fit
    video.cover = cover_in_shape(video.first_frame, ratio, fit)


def new_row(user: User, video: VideoItem) -> tuple[PostMedia, list[str]]:
    """Store the video item's poster and tile; returns its row (with its
    video) and the files written."""
    assert video.cover is not None
    store = current_app.extensions["media_store"]
    poster, tile = store.save(user.ig_account_id, video.cover.poster, video.cover.tile)
    width, height = video.poster_size
    row = PostMedia(filename=poster, thumbnail=tile, width=width, height=height)
    row.video = PostVideo(
        source=video.source, fit=video.fit, duration_ms=video.duration_ms
    )
    return row, [poster, tile]


def attach(post: Post) -> bool:
    """Give the post's new video items their post; True when one of its
    videos waits for its conversion (to be started after the commit)."""
    waiting = False
    for item in post.media:
        if item.video is not None:
            item.video.post = post
            waiting = waiting or not item.video.ready
    return waiting


def problems_of(number: int, alt_text: str, tags: list[dict]) -> list[str]:
    """What the form asks of video item ``number`` that Instagram does not take."""
    found = []
    if alt_text:
        found.append(
            f"Item {number} is a video: Instagram takes alt text for photos only."
        )
    if tags:
        found.append(
            f"Item {number} is a video: Instagram does not take people tags on "
            "a video in a carousel."
        )
    return found


class VideoReader:
    """Reads a form's video items once its photos are read (``post_form``);
    every stored upload is in ``written`` (removed by the caller when the post
    is not saved)."""

    def __init__(self, user: User, form) -> None:
        self.user = user
        self.form = form
        self.written: list[str] = []

    @contextmanager
    def removed_on_failure(self) -> Iterator[None]:
        """Remove the stored uploads if the form is refused (or anything fails)."""
        try:
            yield
        except BaseException:
            delete_uploads(self.user, self.written)
            raise

    def read(self, items) -> list[str]:
        """Check and keep each video upload of ``items`` (post_form.ItemInput)
        and give it the carousel's shape; returns the problems, in words."""
        fresh = [i for i in items if i.upload is not None and i.processed is None]
        if not fresh:
            return []
        many = len(items) > 1
        if not many and is_video(fresh[0].upload):
            return [
                "A single video is posted as a Reel: choose Reel as the post type, "
                "or add a photo or a video to make a carousel."
            ]
        problems = []
        try:
            fit = read_fit(self.form)
        except ValueError as exc:
            return [str(exc)]
        for item in fresh:
            number = items.index(item) + 1
            problems += problems_of(number, item.alt_text, item.user_tags)
            try:
                item.video = read_video(self.user, item.upload, self.written)
            except VideoRejected as exc:
                why = exc.message
                problems.append(f"Item {number}: {why}" if many else why)
        if problems:
            return problems
        photos = [i.size for i in items if i.video is None and all(i.size)]
        videos = [i.video for i in items if i.video is not None]
        ratio = carousel_ratio(photos[0] if photos else None, videos)
        for video in videos:
            shape(video, ratio, fit)
        return []


def delete_uploads(user: User, names: list[str]) -> None:
    """Remove video uploads a refused or failed form stored."""
    if names:
        current_app.extensions["media_store"].delete(user.ig_account_id, *names)
