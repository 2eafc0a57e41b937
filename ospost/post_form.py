"""Reading the New post and Edit post forms, and refusing what Instagram would.

Everything is checked before anything is written: caption, date,
collaborators, first comment, then each image (count, alt text, people tags,
the image itself and its shape). Only then are the new images stored, and the
caller commits once (``posts.commit_or_cleanup`` removes the files again if
the database refuses), so a refused form leaves neither rows nor files.

The form's fields (``static/js/lib/carousel.js`` fills them; without
JavaScript the plain fields still work):

    media            image files, in the order chosen (legacy: ``image``)
    item             one per image in order: "new:<k>" (the k-th file) or
                     "keep:<id>" (an image the post already has, edit only);
                     files no ``item`` names come last
    item_alt_text    alt text of each image, in the same order
    item_user_tags   people tags of each image: JSON [{username, x, y}]
    alt_text         without ``item`` fields: the first image's alt text
    collaborators    up to 3 usernames, separated by commas or spaces
    first_comment    posted as the first comment once the post is live
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from flask import current_app
from werkzeug.datastructures import FileStorage

import helpers
from models import Post
from models import PostMedia
from models import User
from ospost import images


class FormError(ValueError):
    """Input the person must correct; the message says how."""


@dataclass
class ItemInput:
    """One image of the submitted post, in its place."""

    alt_text: str
    user_tags: list[dict]
    existing: PostMedia | None = None
    upload: FileStorage | None = None
    processed: images.ProcessedImage | None = None

    @property
    def size(self) -> tuple[int, int]:
        if self.processed is not None:
            return self.processed.width, self.processed.height
        assert self.existing is not None
        return self.existing.width, self.existing.height


@dataclass
class PostInput:
    caption: str
    when: datetime
    collaborators: list[str]
    first_comment: str
    items: list[ItemInput] = field(default_factory=list)

    @property
    def alt_text(self) -> str:
        return self.items[0].alt_text if self.items else ""


def parse_post_form(
    form, files, user: User, now: datetime, post: Post | None = None
) -> PostInput:
    """Validate a whole post form for ``user`` (``post``: the one being edited).

    Raises FormError with a sentence the person can act on; returns the post
    as submitted, its new images already processed (not yet stored).
    """
    caption = helpers.normalize_newlines(form.get("caption", ""))
    problems = helpers.caption_stats(caption).problems()
    if problems:
        raise FormError(" ".join(problems))
    comment = helpers.normalize_newlines(form.get("first_comment", "")).strip()
    problems = helpers.caption_stats(comment).problems("first comment")
    if problems:
        raise FormError(" ".join(problems))
    collaborators = parse_collaborators(form.get("collaborators", ""), user)
    when = parse_when(form.get("date", ""), user, now)
    items = parse_items(form, files, post)
    process_images(items)
    return PostInput(caption, when, collaborators, comment, items)


def parse_when(raw: str, user: User, now: datetime) -> datetime:
    if not raw:
        raise FormError("Choose when to publish the post.")
    try:
        when = helpers.parse_local_datetime(raw, user.timezone)
    except helpers.LocalTimeError as exc:
        raise FormError(str(exc)) from exc
    check_publish_time(when, user, now)
    return when


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
    return names


def check_username(name: str, role: str) -> None:
    if not helpers.is_username(name):
        raise FormError(
            f"“{name[:40]}” ({role}) is not an Instagram username: use letters, "
            f"digits, periods and underscores, at most "
            f"{helpers.USERNAME_MAX_CHARS} characters."
        )


# -- the images ---------------------------------------------------------------


def parse_items(form, files, post: Post | None) -> list[ItemInput]:
    """The submitted images in order, with their alt texts and tags."""
    uploads = [f for f in files.getlist("media") if f and f.filename]
    uploads += [f for f in files.getlist("image") if f and f.filename]
    refs = form.getlist("item")
    if refs:
        items = _items_from_refs(form, refs, uploads, post)
    else:
        items = _items_without_refs(form, uploads, post)
    if not items:
        raise FormError("Choose an image to post.")
    if len(items) > helpers.MEDIA_MAX_ITEMS:
        raise FormError(
            f"You chose {len(items)} images; an Instagram carousel holds at most "
            f"{helpers.MEDIA_MAX_ITEMS}."
        )
    for number, item in enumerate(items, 1):
        check_alt_text(item.alt_text, number, len(items))
    return items


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
        item = ItemInput(alt, parse_tags(tags[i] if i < len(tags) else "", i + 1))
        if kind == "new" and int(key) < len(uploads):
            item.upload = uploads[int(key)]
        elif kind == "keep" and int(key) in kept:
            item.existing = kept[int(key)]
        else:
            raise FormError("Your images changed in the meantime. Reload the page.")
        items.append(item)
    # Files no field names (chosen without JavaScript) come after, in order.
    named = {int(r.partition(":")[2]) for r in refs if r.startswith("new:")}
    items += [
        ItemInput("", [], upload=upload)
        for k, upload in enumerate(uploads)
        if k not in named
    ]
    return items


def _items_without_refs(form, uploads, post: Post | None) -> list[ItemInput]:
    """A form without per-image fields (no JavaScript, older clients): new
    files replace the post's images, else they stay; ``alt_text`` describes
    the first."""
    if uploads:
        items = [ItemInput("", [], upload=upload) for upload in uploads]
    else:
        items = [
            ItemInput(m.alt_text, list(m.user_tags), existing=m)
            for m in (post.media if post else [])
        ]
    if items and "alt_text" in form:
        items[0].alt_text = helpers.normalize_newlines(form["alt_text"]).strip()
    return items


def check_alt_text(alt_text: str, number: int, count: int) -> None:
    limit = helpers.ALT_TEXT_MAX_CHARS
    if len(alt_text) > limit:
        which = "The alt text" if count == 1 else f"The alt text of image {number}"
        raise FormError(
            f"{which} has {len(alt_text)} characters; Instagram allows {limit}."
        )


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


def process_images(items: list[ItemInput]) -> None:
    """Normalise each new upload, then check every image has the first's shape."""
    many = len(items) > 1
    for number, item in enumerate(items, 1):
        if item.upload is None:
            continue
        try:
            item.processed = images.process_upload(item.upload.stream)
        except images.ImageRejected as exc:
            raise FormError(f"Image {number}: {exc}" if many else str(exc)) from exc
    first = items[0].size
    for number, item in enumerate(items[1:], 2):
        if not images.same_shape(first, item.size):
            raise FormError(
                f"Image {number} is {images.aspect_ratio_label(*item.size)} but "
                f"the first image is {images.aspect_ratio_label(*first)}. "
                "Instagram shows every image of a carousel in the first one's "
                "shape: crop them all the same way."
            )


def store_new_images(user: User, items: list[ItemInput]) -> list[str]:
    """Write the new images' files and give each item its row; returns every
    file written (all of them are removed again if one write fails)."""
    store = current_app.extensions["media_store"]
    written: list[str] = []
    try:
        for item in items:
            if item.processed is None:
                continue
            image = item.processed
            filename, thumb = store.save(
                user.ig_account_id, image.jpeg, image.thumbnail
            )
            written += [filename, thumb]
            item.existing = PostMedia(
                filename=filename,
                thumbnail=thumb,
                width=image.width,
                height=image.height,
            )
    except OSError:
        store.delete(user.ig_account_id, *written)
        raise
    return written


def apply(post: Post, data: PostInput) -> list[str]:
    """Give ``post`` the submitted content (images stored first, see
    ``store_new_images``); returns the files of images it no longer has."""
    rows = []
    for item in data.items:
        row = item.existing
        assert row is not None
        row.alt_text = item.alt_text
        row.user_tags = item.user_tags
        rows.append(row)
    dropped = [m for m in post.media if m not in rows]
    post.set_media(rows)
    post.caption = data.caption
    post.collaborators = data.collaborators
    post.set_first_comment(data.first_comment)
    return [n for m in dropped for n in (m.filename, m.thumbnail) if n]
