"""The feed's pictures, kept as our own thumbnails (Meta's URLs expire).

A refresh gives every post a thumbnail file: the one already stored, a copy
of Ospost's own thumbnail for posts it published, or a download from Meta,
until the refresh's time budget for pictures is spent.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from datetime import timedelta

from PIL import Image
from PIL import UnidentifiedImageError
from sqlalchemy import select

from models import FeedItem
from models import Post
from models import PostMedia
from models import db
from ospost import images
from ospost.graph import GraphClient
from ospost.graph import GraphError
from ospost.storage import MediaStore

log = logging.getLogger(__name__)

ITEMS = FeedItem.__table__
MAX_PICTURE_BYTES = 8 * 1024 * 1024


def with_thumbnails(
    store: MediaStore, client: GraphClient, user, items: list[dict], budget: timedelta
) -> tuple[list[dict], bool]:
    """Give every item a ``thumbnail`` file: the one we have, Ospost's own
    copy for posts it published, or a download (until the budget is spent).
    Returns the items and whether the budget ran out before the last one
    (a picture that failed to download is tried again next refresh)."""
    ig_id = user.ig_account_id
    ids = [item["id"] for item in items]
    known = dict(
        db.session.execute(
            select(ITEMS.c.ig_media_id, ITEMS.c.thumbnail).where(
                ITEMS.c.user_id == user.id, ITEMS.c.ig_media_id.in_(ids)
            )
        ).all()
    )
    ours = dict(
        db.session.execute(
            # A post's own thumbnail is its first image's (post_media).
            select(Post.ig_media_id, PostMedia.thumbnail)
            .join(PostMedia, PostMedia.post_id == Post.id)
            .where(
                Post.user_id == user.id,
                Post.ig_media_id.in_(ids),
                PostMedia.position == 0,
                PostMedia.thumbnail.is_not(None),
            )
        ).all()
    )
    db.session.commit()  # no transaction open while pictures download
    deadline = time.monotonic() + budget.total_seconds()
    out_of_time = False
    for item in items:
        name = known.get(item["id"])
        if name and _has_file(store, ig_id, name):
            item["thumbnail"] = name
        elif time.monotonic() > deadline:
            item["thumbnail"], out_of_time = None, True
        else:
            item["thumbnail"] = _picture(
                store, client, ig_id, item, ours.get(item["id"])
            )
    return items, out_of_time


def _has_file(store: MediaStore, ig_id: str, name: str) -> bool:
    return store.has_feed_thumbnail(ig_id, name)


def _picture(
    store: MediaStore,
    client: GraphClient,
    ig_id: str,
    item: dict,
    own_thumbnail: str | None,
) -> str | None:
    """Store the item's thumbnail; None when it cannot be had this time."""
    try:
        if own_thumbnail:
            if store.exists(ig_id, own_thumbnail):
                data = store.read(ig_id, own_thumbnail)
                return store.save_feed_thumbnail(ig_id, item["id"], data)
        url = item.get("picture_url")
        if not url:
            return None
        data = client.download(url, MAX_PICTURE_BYTES)
        thumb = make_thumbnail(data)
        return store.save_feed_thumbnail(ig_id, item["id"], thumb)
    except (GraphError, OSError, ValueError) as exc:
        log.info("feed picture %s not stored: %s", item["id"], exc)
        return None


def make_thumbnail(data: bytes) -> bytes:
    """A grid thumbnail (JPEG, at most THUMB_WIDTH wide) of a downloaded picture.

    Raises ValueError for anything that is not a picture Pillow can read safely.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as picture:
                if picture.format not in ("JPEG", "PNG", "WEBP", "MPO"):
                    raise ValueError(f"unexpected picture format {picture.format}")
                width = min(images.THUMB_WIDTH, picture.width)
                height = max(1, round(picture.height * width / picture.width))
                # JPEG can decode at 1/2, 1/4, 1/8 size: much cheaper.
                picture.draft("RGB", (width, height))
                small = picture.convert("RGB").resize(
                    (width, height), Image.Resampling.LANCZOS, reducing_gap=2.0
                )
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ZeroDivisionError,
    ) as exc:
        raise ValueError(f"unreadable picture: {exc}") from exc
    out = io.BytesIO()
    small.save(out, "JPEG", quality=images.THUMB_QUALITY)
    return out.getvalue()
