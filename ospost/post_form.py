"""Reading the New post and Edit post forms, and refusing what Instagram would.

Every field is checked before anything is written, and every problem is
reported at once, keyed by its field (``FormError.fields``): caption, date,
collaborators, first comment, then the images (count, alt text, people tags,
the images themselves and their shape). ``read_post`` gives the request's
database connection back before decoding the images, within the app's decoding
budget (``decode_budget.Busy`` when there is no room in time); ``ospost.post_save``
then stores the files and the post in one short transaction.

The form's fields (``static/js/lib/carousel.js`` fills them; without
JavaScript the plain fields still work):

    media            photo or video files in order (legacy: ``image``; videos
                     and ``video_fit``: ``ospost.carousel_videos``)
    item             one per image in order: "new:<k>" (the k-th file) or
                     "keep:<id>" (an image the post already has, edit only);
                     files no ``item`` names come last
    item_alt_text    alt text of each image, in the same order
    item_user_tags   people tags of each image: JSON [{username, x, y}]
    alt_text         without ``item`` fields: the first image's alt text
    background       #rrggbb behind transparent areas of new images
    collaborators    up to 3 usernames, separated by commas or spaces
    first_comment    posted as the first comment once the post is live

Error keys: ``caption``, ``date``, ``collaborators``, ``first_comment``,
``image`` (the images), ``alt_text`` and ``background``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from flask import abort
from flask import current_app
from flask import request
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

import helpers
from models import Post
from models import PostMedia
from models import User
from models import db
from ospost import carousel_videos
from ospost import images
from ospost import quota
from ospost.library import LibraryFile
from ospost.library import resolve as resolve_library
from ospost.post_save import release_connection

# Far above Instagram's limits (a draft may be over them while being written),
# but a bound on what a form can make us store.
DRAFT_TEXT_MAX = 20_000


class FormError(ValueError):
    """Input the person must correct; the message says how.

    ``fields`` maps form fields to what is wrong with each, so the page can
    show every problem at its own field at once; the message then joins them.
    """

    def __init__(self, message: str = "", fields: dict[str, str] | None = None):
        self.fields = dict(fields or {})
        super().__init__(message or " ".join(self.fields.values()))


class Conflict(FormError):
    """The post or account changed while the request was handled (HTTP 409)."""


@dataclass
class ItemInput:
    """One image of the submitted post, in its place."""

    alt_text: str
    user_tags: list[dict]
    # An image the post already has (edit): its row id and size as read.
    kept_id: int | None = None
    kept_size: tuple[int, int] = (0, 0)
    upload: FileStorage | None = None
    processed: images.ProcessedImage | None = None
    # An image from the media library ("lib:<post_media id>"): its files are
    # shared, not copied (ospost/library.py).
    library_id: int | None = None
    library: LibraryFile | None = None
    video: carousel_videos.VideoItem | None = None  # a new video item

    @property
    def size(self) -> tuple[int, int]:
        if self.processed is not None:
            return self.processed.width, self.processed.height
        return self.video.poster_size if self.video else self.kept_size

    @property
    def sha256(self) -> str | None:
        """The new image's (or video poster's) fingerprint (None if kept)."""
        if self.video is not None and self.video.cover is not None:
            return hashlib.sha256(self.video.cover.poster).hexdigest()
        if self.processed is None:
            return None
        return hashlib.sha256(self.processed.jpeg).hexdigest()


@dataclass
class PostInput:
    caption: str
    when: datetime | None  # None only for a draft without a date
    collaborators: list[str]
    first_comment: str
    items: list[ItemInput] = field(default_factory=list)
    warning: str | None = None  # the publishing quota is nearly used up
    # Video uploads already in the media store (removed if the post is not saved).
    videos_written: list[str] = field(default_factory=list)

    @property
    def alt_text(self) -> str:
        return self.items[0].alt_text if self.items else ""


def read_post(
    user: User, now: datetime, *, editing: Post | None = None, draft: bool = False
) -> PostInput:
    """The post form and its images, checked together so every problem shows.

    ``editing``: the post being changed; ``draft``: keep whatever the form
    has (no date or image needed, Instagram's limits not applied yet).
    Raises FormError with the fields at fault, or decode_budget.Busy when there is
    no room to decode the images in time. The request's database connection
    goes back to the pool before the images are read (``release_connection``).
    """
    form, files = request.form, request.files
    errors: dict[str, str] = {}
    data = None
    try:
        data = parse_text_fields(form, user, now, editing, draft=draft)
    except FormError as exc:
        errors.update(exc.fields)
    items: list[ItemInput] = []
    try:
        items = parse_items(form, files, editing, required=not draft)
    except FormError as exc:
        errors.update(exc.fields)
    limit = DRAFT_TEXT_MAX if draft else helpers.ALT_TEXT_MAX_CHARS
    alt_problems = [
        p
        for n, item in enumerate(items, 1)
        if (p := alt_text_problem(item, n, items, limit))
    ]
    if alt_problems:
        errors["alt_text"] = " ".join(alt_problems)
    try:
        take_from_library(items, user)
    except FormError as exc:
        errors.update(exc.fields)
    release_connection()  # the quota check and the post's images were the last reads
    background = helpers.parse_hex_color(form.get("background") or "#ffffff")
    if background is None:
        errors["background"] = "Choose the background colour from the colour picker."
    videos = carousel_videos.VideoReader(user, form)
    with videos.removed_on_failure():
        try:
            if items and background is not None:
                process_images(items, background, check_shape=not draft, videos=videos)
        except FormError as exc:
            errors.update(exc.fields)
        if errors:
            raise FormError(fields=errors)
    assert data is not None
    data.items, data.videos_written = items, videos.written
    return data


def parse_text_fields(
    form, user: User, now: datetime, editing: Post | None = None, *, draft=False
) -> PostInput:
    """Caption, first comment, collaborators and date (every problem at once)."""
    errors = {}
    caption = helpers.normalize_newlines(form.get("caption", ""))
    comment = helpers.normalize_newlines(form.get("first_comment", "")).strip()
    for name, noun, text in (
        ("caption", None, caption),
        ("first_comment", "first comment", comment),
    ):
        if draft:
            problems = _too_long_for_a_draft(noun or name, text)
        elif noun:
            problems = helpers.caption_stats(text).problems(noun)
        else:
            problems = helpers.caption_stats(text).problems()
        if problems:
            errors[name] = " ".join(problems)
    collaborators: list[str] = []
    try:
        collaborators = parse_collaborators(form.get("collaborators", ""), user)
    except FormError as exc:
        errors["collaborators"] = str(exc)
    warning = when = None
    try:
        if draft:
            when = parse_draft_time(form.get("date", ""), user)
        else:
            when = parse_publish_time(form.get("date", ""), user, now)
            warning = quota.check_new_time(user, when, editing.id if editing else None)
    except FormError as exc:
        errors["date"] = str(exc)
    except quota.QuotaFull as exc:
        errors["date"] = str(exc)
    if errors:
        raise FormError(fields=errors)
    return PostInput(caption, when, collaborators, comment, warning=warning)


def _too_long_for_a_draft(noun: str, text: str) -> list[str]:
    if len(text) <= DRAFT_TEXT_MAX:
        return []
    return [
        f"The {noun} has {len(text):,} characters; a draft keeps up to "
        f"{DRAFT_TEXT_MAX:,}."
    ]


def parse_publish_time(raw: str, user: User, now: datetime) -> datetime:
    """The instant a person typed as local time, if they may schedule it."""
    if not raw:
        raise FormError("Choose when to publish the post.")
    try:
        when = helpers.parse_local_datetime(raw, user.timezone)
    except helpers.LocalTimeError as exc:
        raise FormError(str(exc)) from exc
    check_publish_time(when, user, now)
    return when


def parse_draft_time(raw: str, user: User) -> datetime | None:
    """A draft's date to think about: optional, and never checked against now."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return helpers.parse_local_datetime(raw, user.timezone)
    except helpers.LocalTimeError as exc:
        raise FormError(f"{exc} (Or clear the date to save without one.)") from exc


def check_publish_time(when: datetime, user: User, now: datetime) -> None:
    """Refuse times in the past, too far ahead, or after the login runs out."""
    tz = user.timezone
    if when <= now:
        raise FormError(
            f"Pick a time in the future (it is now {helpers.format_local(now, tz)})."
        )
    max_days = current_app.config["MAX_SCHEDULE_DAYS"]
    if when > now + timedelta(days=max_days):
        raise FormError(
            f"Posts can be scheduled at most {max_days} days ahead, until "
            f"{helpers.format_local(now + timedelta(days=max_days), tz)}."
        )
    limit = user.schedule_limit(now, max_days)
    if when > limit:
        raise FormError(
            "Your Instagram login expires on "
            f"{helpers.format_local(user.token_expires_at, tz)}, so posts can be "
            f"scheduled until {helpers.format_local(limit, tz)}. Log in again to "
            "extend it."
        )


def parse_collaborators(text: str, user: User) -> list[str]:
    """Up to 3 valid usernames, never the account that posts."""
    names = helpers.parse_usernames(text)
    for name in names:
        check_username(name, "collaborator")
    check_collaborators(names, user)
    return names


def check_collaborators(names: list[str], user: User) -> None:
    if len(names) > helpers.COLLABORATORS_MAX:
        raise FormError(
            f"You invited {len(names)} collaborators; Instagram allows "
            f"{helpers.COLLABORATORS_MAX} per post."
        )
    if user.ig_username and user.ig_username.lower() in names:
        raise FormError(
            f"@{user.ig_username} publishes the post, so it cannot be invited "
            "as a collaborator."
        )


def check_username(name: str, role: str) -> None:
    if not helpers.is_username(name):
        raise FormError(
            f"“{name[:40]}” ({role}) is not an Instagram username: use letters, "
            f"digits, periods and underscores, at most "
            f"{helpers.USERNAME_MAX_CHARS} characters."
        )


# -- the images ---------------------------------------------------------------


def parse_items(form, files, post: Post | None, *, required=True) -> list[ItemInput]:
    """The submitted images in order, with their alt texts and tags (nothing
    decoded yet). Raises FormError keyed ``image``."""
    uploads = [f for f in files.getlist("media") if f and f.filename]
    uploads += [f for f in files.getlist("image") if f and f.filename]
    refs = form.getlist("item")
    try:
        if refs:
            items = _items_from_refs(form, refs, uploads, post)
        else:
            items = _items_without_refs(form, uploads, post)
        if not items and required:
            raise FormError("Choose an image to post.")
        if len(items) > helpers.MEDIA_MAX_ITEMS:
            raise FormError(
                f"You chose {len(items)} images; an Instagram carousel holds at "
                f"most {helpers.MEDIA_MAX_ITEMS}."
            )
    except FormError as exc:
        raise FormError(fields={"image": str(exc)}) from exc
    return items


def _kept(item, alt: str, tags: list[dict]) -> ItemInput:
    return ItemInput(alt, tags, kept_id=item.id, kept_size=(item.width, item.height))


def _items_from_refs(form, refs, uploads, post: Post | None) -> list[ItemInput]:
    alts = form.getlist("item_alt_text")
    tags = form.getlist("item_user_tags")
    kept = {item.id: item for item in (post.media if post else [])}
    used: set[str] = set()
    items = []
    for i, ref in enumerate(refs):
        kind, _, key = ref.partition(":")
        if ref in used or not key.isdigit():
            raise FormError("The images sent do not match. Reload the page.")
        used.add(ref)
        alt = helpers.normalize_newlines(alts[i] if i < len(alts) else "").strip()
        people = parse_tags(tags[i] if i < len(tags) else "", i + 1)
        if kind == "new" and int(key) < len(uploads):
            items.append(ItemInput(alt, people, upload=uploads[int(key)]))
        elif kind == "keep" and int(key) in kept:
            items.append(_kept(kept[int(key)], alt, people))
        elif kind == "keep" and _foreign_media(int(key), post):
            abort(404)  # another account's image: as if it did not exist
        elif kind == "lib" and int(key) <= 2**31 - 1:  # a row id, within INTEGER
            items.append(ItemInput(alt, people, library_id=int(key)))
        else:
            raise FormError("Your images changed in the meantime. Reload the page.")
    # Files no field names (chosen without JavaScript) come after, in order.
    named = {int(r.partition(":")[2]) for r in refs if r.startswith("new:")}
    items += [
        ItemInput("", [], upload=upload)
        for k, upload in enumerate(uploads)
        if k not in named
    ]
    return items


def _foreign_media(media_id: int, post: Post | None) -> bool:
    """True when an edited post names another account's image."""
    if post is None or media_id > 2**31 - 1:
        return False  # a new post keeps nothing, and no row has such an id
    owner = _media_owner(media_id)
    return owner is not None and owner != post.user_id


def _media_owner(media_id: int) -> int | None:
    """The account whose post holds this image (None: no such image)."""
    return db.session.scalar(
        select(Post.user_id).join(PostMedia).where(PostMedia.id == media_id)
    )


def _items_without_refs(form, uploads, post: Post | None) -> list[ItemInput]:
    """A form without per-image fields (no JavaScript, older clients): new
    files replace the post's images, else they stay; ``alt_text`` describes
    the first."""
    if uploads:
        items = [ItemInput("", [], upload=upload) for upload in uploads]
    else:
        items = [
            _kept(m, m.alt_text, list(m.user_tags))
            for m in (post.media if post else [])
        ]
    if items and "alt_text" in form:
        items[0].alt_text = helpers.normalize_newlines(form["alt_text"]).strip()
    return items


def take_from_library(items: list[ItemInput], user: User) -> None:
    """Find each library image the form names (the person's own, still
    stored); FormError keyed ``image`` when one is gone."""
    for number, item in enumerate(items, 1):
        if item.library_id is None:
            continue
        item.library = resolve_library(user, item.library_id)
        if item.library is None:
            if _media_owner(item.library_id) not in (None, user.id):
                abort(404)  # another account's image: as if it did not exist
            raise FormError(
                fields={
                    "image": f"Image {number} is no longer in your library "
                    "(its posts were removed or published). Choose another."
                }
            )
        item.kept_size = (item.library.width, item.library.height)


def alt_text_problem(
    item, number: int, items: list, limit: int = helpers.ALT_TEXT_MAX_CHARS
) -> str | None:
    """What is wrong with an image's alt text (an item or a stored image)."""
    if len(item.alt_text) <= limit:
        return None
    which = "The alt text" if len(items) == 1 else f"The alt text of image {number}"
    allows = (
        "Instagram allows" if limit == helpers.ALT_TEXT_MAX_CHARS else "a draft keeps"
    )
    return f"{which} has {len(item.alt_text)} characters; {allows} {limit}."


def parse_tags(raw: str, number: int) -> list[dict]:
    """People tagged on image ``number``: a JSON list of {username, x, y}."""
    if not raw.strip():
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise FormError(f"The people tags of image {number} could not be read.")
    if len(data) > helpers.TAGS_MAX_PER_IMAGE:
        raise FormError(
            f"Image {number} has {len(data)} people tagged; Instagram allows "
            f"{helpers.TAGS_MAX_PER_IMAGE} per image."
        )
    tags = [_tag(t, number) for t in data]
    names = [t["username"] for t in tags]
    for name in names:
        if names.count(name) > 1:
            raise FormError(f"@{name} is tagged twice on image {number}.")
    return tags


def _tag(data: dict, number: int) -> dict:
    name = str(data.get("username") or "").strip().lstrip("@").lower()
    if not name:
        raise FormError(f"A tag on image {number} has no username.")
    check_username(name, f"tagged on image {number}")
    try:
        x, y = float(data.get("x")), float(data.get("y"))
    except (TypeError, ValueError):
        x = y = math.nan
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise FormError(
            f"The tag of @{name} on image {number} is outside the image "
            "(x and y go from 0 to 1, from the top left)."
        )
    return {"username": name, "x": round(x, 4), "y": round(y, 4)}


def process_images(
    items: list[ItemInput], background=images.WHITE, *, check_shape=True, videos=None
) -> None:
    """Normalise each new upload within the app's decoding budget (transparent
    areas flattened onto ``background``), then read the videos (``videos``,
    a carousel_videos.VideoReader) and check every item has the first's
    shape. Raises FormError keyed ``image``; decode_budget.Busy propagates."""
    many = len(items) > 1
    budget = current_app.extensions["decode_budget"]
    problems = []
    for number, item in enumerate(items, 1):
        if item.upload is None:
            continue
        if videos is not None and carousel_videos.is_video(item.upload):
            continue  # read once the photos have given the carousel's shape
        try:
            carousel_videos.check_photo_size(item.upload)
            item.processed = images.process_upload(
                item.upload.stream, budget, background=background
            )
        except images.ImageRejected as exc:
            problems.append(f"Image {number}: {exc}" if many else str(exc))
    if not problems and videos is not None:
        problems = videos.read(items)
    if not problems and check_shape:
        problems = shape_problems([item.size for item in items])
    if problems:
        raise FormError(fields={"image": " ".join(problems)})


def shape_problems(sizes: list[tuple[int, int]]) -> list[str]:
    """Each image whose shape is not the first's (Instagram would crop it)."""
    if not sizes:
        return []
    first = sizes[0]
    return [
        f"Image {number} is {images.aspect_ratio_label(*size)} but the first "
        f"image is {images.aspect_ratio_label(*first)}. Instagram shows every "
        "image of a carousel in the first one's shape: crop them all the same way."
        for number, size in enumerate(sizes[1:], 2)
        if not images.same_shape(first, size)
    ]
