"""Storing a checked post form (``ospost.post_form``): the new images' files
and the post's rows in one short transaction, or nothing at all.

Images are decoded with no database connection held; here the files are
written first, then the post is read again (locked, when it is edited: it may
have been removed or claimed meanwhile), changed and committed. If anything in
the transaction fails, it is rolled back and the files this request wrote are
removed (``undone_on_failure``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app

from models import Post
from models import PostMedia
from models import User
from models import db
from ospost import carousel_videos
from ospost import images
from ospost import library
from ospost.scheduler import publisher

if TYPE_CHECKING:
    from ospost.post_form import PostInput

log = logging.getLogger(__name__)


def release_connection() -> None:
    """Give the request's database connection back to the pool before slow work.

    The session row and ``g.user`` were read on it (see ``ospost.sessions``);
    they stay readable, detached, with the values already loaded. Reading a
    big upload and decoding it take up to seconds, and 20 parallel uploads
    holding their connections meanwhile exhausted the pool (issue 16).
    """
    db.session.close()


def store_images(user: User, processed: images.ProcessedImage) -> tuple[str, str]:
    store = current_app.extensions["media_store"]
    return store.save(user.ig_account_id, processed.jpeg, processed.thumbnail)


def delete_files(user: User, *names: str | None) -> None:
    """Remove files a change dropped, except those another post still uses
    (the media library shares them); call after the change committed."""
    library.delete_unused(user, *names)


@contextmanager
def undone_on_failure(user: User, *new_files: str | None) -> Iterator[None]:
    """Run a transaction; if anything in it fails, roll back and remove the
    files this request wrote, so nothing is left half-saved."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        delete_files(user, *new_files)
        raise


def store_new_images(user: User, data: PostInput) -> tuple[list[PostMedia], list[str]]:
    """Write the new images' files; returns a row for each (None for kept
    images) and every file written (all removed again if one write fails)."""
    rows: list[PostMedia | None] = []
    written: list[str] = list(data.videos_written)  # stored while read
    try:
        for item in data.items:
            if item.video is not None:  # its poster and tile; its video waits
                row, names = carousel_videos.new_row(user, item.video)
                written += names
                rows.append(row)
                continue
            image = item.processed
            if item.library is not None:  # shared with the library: no new file
                rows.append(item.library.new_row())
                continue
            if image is None:
                rows.append(None)
                continue
            filename, thumb = store_images(user, image)
            written += [filename, thumb]
            rows.append(
                PostMedia(
                    filename=filename,
                    thumbnail=thumb,
                    width=image.width,
                    height=image.height,
                )
            )
    except OSError:
        delete_files(user, *written)
        raise
    return rows, written


def apply(post: Post, data: PostInput, new_rows: list) -> list[str]:
    """Give ``post`` the submitted content (new images' rows from
    ``store_new_images``); returns the files of images it no longer has.

    Raises Conflict when an image the form kept is no longer the post's.
    """
    from ospost.post_form import Conflict

    current = {m.id: m for m in post.media}
    old_cover = post.cover
    rows = []
    for item, row in zip(data.items, new_rows, strict=True):
        if row is None:
            row = current.get(item.kept_id)
            if row is None:
                raise Conflict("The post's images changed in the meantime. Reload.")
        row.alt_text = item.alt_text
        row.user_tags = item.user_tags
        rows.append(row)
    dropped = [m for m in post.media if m not in rows]
    post.set_media(rows)
    # The clash warning compares first images (planning.image_hash): a new
    # first image brings its hash; a kept one that moved first gets it later.
    first = data.items[0] if data.items else None
    if first is None:
        post.image_sha256 = None
    elif first.sha256:
        post.image_sha256 = first.sha256
    elif post.cover is not old_cover:
        post.image_sha256 = None
    post.caption = data.caption
    post.collaborators = data.collaborators
    post.set_first_comment(data.first_comment)
    carousel_videos.attach(post)
    return [n for m in dropped for n in m.file_names()]


def create_post(user: User, data: PostInput, *, draft: bool = False) -> int:
    """Store the images and insert the post (scheduled, or a draft) in one
    short transaction; returns its id."""
    from ospost.post_form import Conflict

    new_rows, written = store_new_images(user, data)
    with undone_on_failure(user, *written):
        if db.session.get(User, user.id) is None:
            raise Conflict("Your account was deleted in the meantime.")
        post = Post(user_id=user.id)
        apply(post, data, new_rows)
        if draft:
            post.make_draft(data.when)
        else:
            assert data.when is not None
            post.schedule(data.when)
        db.session.add(post)
        db.session.flush()
        post_id = post.id
        db.session.commit()
    convert_videos(post_id, data)
    return post_id


def lock_editable(user: User, post_id: int) -> Post:
    """The account's post, read again and locked for the rest of the
    transaction: it may have been removed or claimed for publishing while
    its new images were processed (Conflict then)."""
    from ospost.post_form import Conflict

    post = db.session.get(Post, post_id, with_for_update=True)
    if post is None or post.user_id != user.id:
        raise Conflict("This post was removed in the meantime.")
    if not post.editable:
        raise Conflict("This post is being published or is already live.")
    return post


def reschedule(post: Post, when: datetime | None, *, draft: bool) -> None:
    """Put an edited post back on the schedule at ``when``, or keep it as a
    draft (``when`` is then only a date to think about).

    The content changed either way: ``schedule()`` drops (or marks stale) a
    container made for the old content, then a draft leaves the schedule.
    """
    if draft:
        post.schedule(when or post.scheduled_at or post.created_at)
        post.make_draft(when)
    else:
        assert when is not None
        post.schedule(when)


def update_post(
    user: User, post_id: int, data: PostInput, *, draft: bool = False
) -> tuple[list[str], datetime | None]:
    """Store any new images and change the post in one short transaction.

    The post is read again, locked, because it may have been removed or
    claimed for publishing while the images were processed. Returns the files
    the post no longer uses (delete them after) and when the publisher should
    look at it (None for a draft).
    """

    new_rows, written = store_new_images(user, data)
    with undone_on_failure(user, *written):
        post = lock_editable(user, post_id)
        old_files = apply(post, data, new_rows)
        reschedule(post, data.when, draft=draft)
        wake_at = None if draft else post.next_attempt_at
        db.session.commit()
    convert_videos(post_id, data)
    return old_files, wake_at


def convert_videos(post_id: int, data: PostInput) -> None:
    """Start converting the new video items of a post just committed (in the
    background: the post waits for them, and says so, if it falls due)."""
    if any(item.video is not None for item in data.items):
        from ospost.reels import conversions

        conversions.start(post_id)


def wake_saved(post_id: int, when: datetime | None) -> None:
    """Wake the publisher for a post just committed.

    The post is saved whatever happens here, so a failure must not turn the
    response into an error; the publisher's sweep finds the post anyway.
    """
    try:
        publisher.wake(post_id, when)
    except Exception:
        log.exception("could not wake the publisher for post %s", post_id)
