"""Reading an account's Instagram profile and feed into the database.

One refresh makes at most ``1 + FEED_MAX_ITEMS / FEED_PAGE_SIZE`` Graph calls
(the profile, then pages of ``/{ig-user-id}/media``), keeps the pictures as our
own thumbnails (Meta's URLs expire), and stores everything in one transaction.
It never runs on the home page's request path: the background job
(``background.py``) and the Refresh button call it.

Meta's rate limits come first (graph-api.md §5.2, §5.4): when an answer says a
limit is 80% used or gives a time to regain access, the refresh stops calling
and the account waits (``backoff_until``); a rate-limit error (4, 17, 32, 613,
80002) does the same. The cached feed stays on the page either way, with a
sentence saying why it may be out of date.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import warnings
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlsplit

from PIL import Image
from PIL import UnidentifiedImageError
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError

import helpers
from models import FeedItem
from models import InstagramProfile
from models import Post
from models import PostMedia
from models import User
from models import db
from models import now_utc
from ospost import images
from ospost.graph import ErrorKind
from ospost.graph import GraphClient
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.graph import Usage
from ospost.storage import MediaStore

log = logging.getLogger(__name__)

PROFILES = InstagramProfile.__table__
ITEMS = FeedItem.__table__
USERS = User.__table__
_NEEDS_REAUTH = (
    update(USERS).where(USERS.c.id == bindparam("user_id")).values(needs_reauth=True)
)

# Settings (``OSPOST_<NAME>`` or the test config override them).
DEFAULTS = {
    "FEED_REFRESH_MINUTES": 30,  # background refresh of each account
    "FEED_SWEEP_SECONDS": 60,  # how often the background job looks
    "FEED_SWEEP_BATCH": 10,  # accounts per look, one after the other
    "FEED_MAX_ITEMS": 120,  # newest posts kept per account
    "FEED_PAGE_SIZE": 50,
    "FEED_MANUAL_MIN_SECONDS": 60,  # the Refresh button's pace
    "FEED_BACKOFF_MINUTES": 15,  # pause after a rate limit (longer if Meta says)
    "FEED_RETRY_MINUTES": 5,  # pause after Meta could not be reached
    "FEED_ERROR_MINUTES": 60,  # pause after Meta refused for another reason
    "FEED_LEASE_SECONDS": 180,
    "FEED_DOWNLOAD_SECONDS": 10,  # picture budget of a Refresh click
    "FEED_BACKGROUND_DOWNLOAD_SECONDS": 60,
}

MAX_PICTURE_BYTES = 8 * 1024 * 1024
MEDIA_TYPES = {"IMAGE", "VIDEO", "CAROUSEL_ALBUM"}
INSTAGRAM_HOSTS = ("instagram.com", "www.instagram.com")

SLOW_DOWN = "Instagram asked Ospost to slow down, so the feed below may be out of date."
NEAR_LIMIT = (
    "Ospost is close to Instagram's rate limit for this account ({percent}%), so "
    "it pauses feed refreshes to leave room for publishing."
)
UNREACHABLE = "Instagram could not be reached, so the feed below may be out of date."
DISCONNECTED = "Instagram disconnected Ospost from this account. Log in again."


@dataclass(frozen=True)
class Outcome:
    """What a refresh did, as a sentence for the person and an HTTP status."""

    ok: bool
    message: str
    status: int = 200


@dataclass
class Fetched:
    """What Meta answered in one refresh."""

    profile: dict = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    complete: bool = False  # the newest FEED_MAX_ITEMS, or the whole feed
    usage: Usage | None = None
    error: GraphError | None = None


class FeedRefresher:
    """Refreshes accounts' profiles and feeds; one per process (``refresher``)."""

    def __init__(self) -> None:
        self.app = None
        self._local = threading.local()
        # X-App-Usage is the whole app's: when it is high, every account waits.
        self.app_paused_until: datetime | None = None

    def init_app(self, app) -> None:
        for name, value in DEFAULTS.items():
            app.config.setdefault(name, value)
        self.app = app
        app.extensions["feed_refresher"] = self

    @property
    def config(self):
        return self.app.config

    @property
    def store(self) -> MediaStore:
        return self.app.extensions["media_store"]

    def client(self) -> GraphClient:
        """This thread's Graph client (it keeps its connections open)."""
        cfg = self.config
        timeout = cfg["GRAPH_TIMEOUT"]
        timeout = tuple(timeout) if isinstance(timeout, list) else timeout
        key = (cfg["FB_ENDPOINT"], cfg["FB_APP_ID"], cfg["FB_APP_SECRET"], timeout)
        clients = self._local.__dict__.setdefault("clients", {})
        if key not in clients:
            clients[key] = GraphClient(*key[:3], timeout=timeout)
        return clients[key]

    def minutes(self, name: str) -> timedelta:
        return timedelta(minutes=float(self.config[name]))

    def seconds(self, name: str) -> timedelta:
        return timedelta(seconds=float(self.config[name]))

    # -- one account ------------------------------------------------------------

    def refresh(self, user_id: int, *, manual: bool) -> Outcome:
        """Read the account's profile and newest posts from Meta into the database.

        ``manual`` is a click on Refresh: it is refused while Meta asks us to
        wait or within FEED_MANUAL_MIN_SECONDS of the last refresh, and it
        spends less time on pictures. Needs an app context.
        """
        now = now_utc()
        user = db.session.execute(select(*USERS.c).where(USERS.c.id == user_id)).first()
        if user is None:
            return Outcome(False, "That account no longer exists.", 404)
        refusal = self._claim(user, now, manual=manual)
        if refusal is not None:
            return refusal
        try:
            return self._refresh_claimed(user, now, manual=manual)
        except Exception:
            self._release(user_id)
            raise

    def _claim(self, user, now: datetime, *, manual: bool) -> Outcome | None:
        """Take the account's refresh lease; an Outcome says why not."""
        _ensure_profile(user.id)
        row = db.session.execute(
            select(PROFILES).where(PROFILES.c.user_id == user.id)
        ).one()
        tz = user.timezone
        if row.lease_until is not None and row.lease_until > now:
            return Outcome(False, "The feed is being refreshed right now.", 409)
        if manual:
            waiting = _later(row.backoff_until, self.app_paused_until)
            if waiting is not None and waiting > now:
                when = helpers.format_local(waiting, tz, "%H:%M")
                return Outcome(
                    False,
                    "Instagram asked Ospost to slow down. Your feed refreshes again "
                    f"after {when}; until then it shows what Ospost last read.",
                    429,
                )
            pace = self.seconds("FEED_MANUAL_MIN_SECONDS")
            if row.attempted_at is not None and row.attempted_at > now - pace:
                when = helpers.format_local(row.attempted_at + pace, tz, "%H:%M:%S")
                return Outcome(
                    False,
                    "The feed was refreshed a moment ago. To keep Ospost's calls to "
                    f"Instagram low, refresh again after {when}.",
                    429,
                )
        lease = now + self.seconds("FEED_LEASE_SECONDS")
        claimed = db.session.execute(
            update(PROFILES)
            .where(
                PROFILES.c.user_id == user.id,
                or_(PROFILES.c.lease_until.is_(None), PROFILES.c.lease_until <= now),
            )
            .values(lease_until=lease, requested_at=None)
        ).rowcount
        db.session.commit()
        if claimed != 1:
            return Outcome(False, "The feed is being refreshed right now.", 409)
        return None

    def _release(self, user_id: int) -> None:
        try:
            db.session.rollback()
            db.session.execute(
                update(PROFILES)
                .where(PROFILES.c.user_id == user_id)
                .values(lease_until=None)
            )
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("feed of user %s: lease not released", user_id)

    def _refresh_claimed(self, user, now: datetime, *, manual: bool) -> Outcome:
        if user.needs_reauth or not user.access_token:
            self._save_failure(user, now, DISCONNECTED, None)
            return Outcome(False, DISCONNECTED, 409)
        fetched = self._fetch(user)
        if fetched.error is not None and not fetched.profile:
            return self._fail(user, now, fetched.error)
        budget = self.seconds(
            "FEED_DOWNLOAD_SECONDS" if manual else "FEED_BACKGROUND_DOWNLOAD_SECONDS"
        )
        items, out_of_time = self._with_thumbnails(user, fetched.items, budget)
        pause, problem = self._pause_after(user, fetched, now)
        self._save(user, now, fetched, items, pause=pause, problem=problem)
        if out_of_time and pause is None:
            self._request_again(user.id)
        log.info(
            "feed of user %s refreshed: %d posts read%s",
            user.id,
            len(items),
            f", Meta left alone until {pause.isoformat()}" if pause else "",
        )
        if problem:
            return Outcome(True, f"Feed refreshed. {problem}")
        count = fetched.profile.get("media_count")
        return Outcome(True, "Feed refreshed from Instagram" + _posts_note(count) + ".")

    # -- talking to Meta ----------------------------------------------------------

    def _fetch(self, user) -> Fetched:
        """The profile, then pages of posts until enough, the end, or high usage."""
        client = self.client()
        client.last_usage = None  # this thread's client last served another account
        fetched = Fetched()
        limit = int(self.config["FEED_MAX_ITEMS"])
        page_size = max(1, min(int(self.config["FEED_PAGE_SIZE"]), 100))
        token, ig_id = user.access_token, user.ig_account_id
        try:
            fetched.profile = client.profile(ig_id, token)
            fetched.usage = client.last_usage
            after = None
            while not _is_high(fetched.usage):
                page = client.media_page(ig_id, token, after=after, limit=page_size)
                fetched.usage = client.last_usage or fetched.usage
                fetched.items += page.items
                if page.after is None or len(fetched.items) >= limit:
                    fetched.complete = True
                    break
                after = page.after
        except GraphError as exc:
            fetched.error = exc
            fetched.usage = exc.usage or client.last_usage or fetched.usage
        fetched.items = _clean_items(fetched.items)[:limit]
        return fetched

    def _pause_after(
        self, user, fetched: Fetched, now: datetime
    ) -> tuple[datetime | None, str | None]:
        """How long to leave Meta alone after a refresh that got a profile, and
        the sentence to show meanwhile (None, None: carry on as usual)."""
        if fetched.error is not None:  # a page of posts failed
            pause, problem, status = self._judge(fetched.error, fetched.usage, now)
            if status == 409:  # committed with the rest by _save
                db.session.execute(_NEEDS_REAUTH, {"user_id": user.id})
            return pause, problem
        usage = fetched.usage
        if not _is_high(usage):
            return None, None
        pause = self._rate_limit_pause(usage, now)
        self._note_app_usage(usage, pause)
        if usage.regain_minutes:
            return pause, SLOW_DOWN
        return pause, NEAR_LIMIT.format(percent=usage.highest)

    def _judge(
        self, error: GraphError, usage: Usage | None, now: datetime
    ) -> tuple[datetime | None, str, int]:
        """After ``error``: until when to wait, what to say, and an HTTP status."""
        if error.rate_limited:
            usage = error.usage or usage
            pause = self._rate_limit_pause(usage, now)
            self._note_app_usage(usage, pause)
            return pause, SLOW_DOWN, 429
        if error.kind is ErrorKind.REAUTH:
            return None, DISCONNECTED, 409
        if isinstance(error, GraphNetworkError) or error.kind is ErrorKind.TRANSIENT:
            return now + self.minutes("FEED_RETRY_MINUTES"), UNREACHABLE, 502
        problem = (
            f"Instagram refused to show this account's posts: {error.user_message()}"
        )
        return now + self.minutes("FEED_ERROR_MINUTES"), problem, 502

    def _rate_limit_pause(self, usage: Usage | None, now: datetime) -> datetime:
        minutes = max(
            float(self.config["FEED_BACKOFF_MINUTES"]),
            float(usage.regain_minutes if usage else 0),
        )
        return now + timedelta(minutes=minutes)

    def _note_app_usage(self, usage: Usage | None, pause: datetime) -> None:
        """X-App-Usage is the whole app's: when it is high, every account waits."""
        if usage is not None and usage.app and max(usage.app.values()) >= 80:
            self.app_paused_until = _later(self.app_paused_until, pause)

    def _fail(self, user, now: datetime, error: GraphError) -> Outcome:
        """Meta gave no profile: keep the cached feed, say why, wait a while."""
        pause, problem, status = self._judge(error, error.usage, now)
        log.warning(
            "feed of user %s not refreshed: code=%s subcode=%s fbtrace_id=%s",
            user.id,
            error.code,
            error.subcode,
            error.fbtrace_id,
        )
        self._save_failure(user, now, problem, pause, reauth=status == 409)
        if pause is not None:
            when = helpers.format_local(pause, user.timezone, "%H:%M")
            problem += f" Ospost tries again after {when}."
        return Outcome(False, problem, status)

    # -- pictures -------------------------------------------------------------------

    def _with_thumbnails(
        self, user, items: list[dict], budget: timedelta
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
            if name and self._has_file(ig_id, name):
                item["thumbnail"] = name
            elif time.monotonic() > deadline:
                item["thumbnail"], out_of_time = None, True
            else:
                item["thumbnail"] = self._picture(ig_id, item, ours.get(item["id"]))
        return items, out_of_time

    def _has_file(self, ig_id: str, name: str) -> bool:
        try:
            return self.store.feed_thumbnail_path(ig_id, name).is_file()
        except ValueError:
            return False

    def _picture(self, ig_id: str, item: dict, own_thumbnail: str | None) -> str | None:
        """Store the item's thumbnail; None when it cannot be had this time."""
        try:
            if own_thumbnail:
                own = self.store.path(ig_id, own_thumbnail)
                if own.is_file():
                    data = own.read_bytes()
                    return self.store.save_feed_thumbnail(ig_id, item["id"], data)
            url = item.get("picture_url")
            if not url:
                return None
            data = self.client().download(url, MAX_PICTURE_BYTES)
            thumb = make_thumbnail(data)
            return self.store.save_feed_thumbnail(ig_id, item["id"], thumb)
        except (GraphError, OSError, ValueError) as exc:
            log.info("feed picture %s not stored: %s", item["id"], exc)
            return None

    # -- the database ---------------------------------------------------------------

    def _save(
        self,
        user,
        now: datetime,
        fetched: Fetched,
        items: list[dict],
        *,
        pause: datetime | None,
        problem: str | None,
    ) -> None:
        """Store profile and posts in one transaction and give the lease back."""
        profile = fetched.profile
        stored = {
            row.ig_media_id: row
            for row in db.session.execute(
                select(ITEMS.c.id, ITEMS.c.ig_media_id, ITEMS.c.thumbnail).where(
                    ITEMS.c.user_id == user.id
                )
            )
        }
        seen = set()
        for item in items:
            seen.add(item["id"])
            values = _item_values(item)
            row = stored.get(item["id"])
            if row is None:
                db.session.execute(
                    insert(ITEMS).values(
                        user_id=user.id, ig_media_id=item["id"], **values
                    )
                )
            else:
                if values["thumbnail"] is None:
                    values.pop("thumbnail")  # keep the old picture until a new one
                db.session.execute(
                    update(ITEMS).where(ITEMS.c.id == row.id).values(**values)
                )
        gone = []
        if fetched.complete:
            # Deleted on Instagram, or older than the newest FEED_MAX_ITEMS.
            gone = [row for media_id, row in stored.items() if media_id not in seen]
            if gone:
                db.session.execute(
                    delete(ITEMS).where(ITEMS.c.id.in_([row.id for row in gone]))
                )
        db.session.execute(
            update(PROFILES)
            .where(PROFILES.c.user_id == user.id)
            .values(
                username=str(profile.get("username") or user.ig_username)[:255],
                name=str(profile.get("name") or "")[:255],
                followers_count=_count(profile.get("followers_count")),
                follows_count=_count(profile.get("follows_count")),
                media_count=_count(profile.get("media_count")),
                version=PROFILES.c.version + 1,
                refreshed_at=now,
                attempted_at=now,
                lease_until=None,
                backoff_until=pause,
                usage_percent=fetched.usage.highest if fetched.usage else None,
                problem=problem,
            )
        )
        user_values = {}
        picture = profile.get("profile_picture_url")
        # Meta hands out a fresh picture URL each time; the old one expires.
        if isinstance(picture, str) and _is_web_url(picture):
            user_values["profile_picture_url"] = picture[:2048]
        if isinstance(profile.get("username"), str) and profile["username"]:
            user_values["ig_username"] = profile["username"][:255]
        if user_values:
            db.session.execute(
                update(USERS).where(USERS.c.id == user.id).values(**user_values)
            )
        db.session.commit()
        kept = {item["thumbnail"] for item in items}
        self.store.delete_feed_thumbnails(
            user.ig_account_id,
            *(row.thumbnail for row in gone if row.thumbnail not in kept),
        )

    def _save_failure(
        self,
        user,
        now: datetime,
        problem: str,
        pause: datetime | None,
        *,
        reauth: bool = False,
    ) -> None:
        db.session.execute(
            update(PROFILES)
            .where(PROFILES.c.user_id == user.id)
            .values(
                version=PROFILES.c.version + 1,
                attempted_at=now,
                lease_until=None,
                backoff_until=pause,
                problem=problem,
            )
        )
        if reauth:
            db.session.execute(_NEEDS_REAUTH, {"user_id": user.id})
        db.session.commit()

    def _request_again(self, user_id: int) -> None:
        """Pictures are left to fetch: let the background job finish them soon."""
        db.session.execute(
            update(PROFILES)
            .where(PROFILES.c.user_id == user_id)
            .values(requested_at=now_utc())
        )
        db.session.commit()


def request_refresh(user_id: int) -> None:
    """Ask for the account's feed to be refreshed soon (after a publish).

    An account never refreshed has no profile row and is due anyway. Best
    effort: a failure here is logged and never reaches the caller.
    """
    try:
        db.session.execute(
            update(PROFILES)
            .where(PROFILES.c.user_id == user_id)
            .values(requested_at=now_utc())
        )
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("feed of user %s: refresh not requested", user_id)


def _ensure_profile(user_id: int) -> None:
    """The account's ig_profiles row exists afterwards (made empty if new)."""
    exists = db.session.execute(
        select(PROFILES.c.user_id).where(PROFILES.c.user_id == user_id)
    ).first()
    if exists is not None:
        return
    try:
        db.session.execute(
            insert(PROFILES).values(user_id=user_id, username="", name="", version=0)
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another worker made it first


# -- reading Meta's answers ------------------------------------------------------


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


def _clean_items(raw: list[dict]) -> list[dict]:
    """Meta's posts as we keep them: valid ones, each once, newest first."""
    items, seen = [], set()
    for entry in raw:
        media_id = str(entry.get("id") or "")
        posted = parse_meta_time(entry.get("timestamp"))
        if not media_id.isdigit() or media_id in seen or posted is None:
            continue
        if entry.get("media_product_type") == "STORY":
            continue  # stories are not on the profile grid
        seen.add(media_id)
        media_type = str(entry.get("media_type") or "IMAGE")
        media_type = media_type if media_type in MEDIA_TYPES else "IMAGE"
        # Videos: media_url is the video itself, thumbnail_url its cover.
        picture = entry.get("thumbnail_url") or (
            entry.get("media_url") if media_type != "VIDEO" else None
        )
        permalink = entry.get("permalink")
        items.append(
            {
                "id": media_id,
                "media_type": media_type,
                "product_type": str(entry.get("media_product_type") or "FEED")[:32],
                "permalink": permalink if _is_instagram_url(permalink) else "",
                "caption": str(entry.get("caption") or "")[:2200],
                "posted_at": posted,
                "picture_url": picture if isinstance(picture, str) else None,
            }
        )
    items.sort(key=lambda item: (item["posted_at"], int(item["id"])), reverse=True)
    return items


def _item_values(item: dict) -> dict:
    return {
        "media_type": item["media_type"],
        "product_type": item["product_type"],
        "permalink": item["permalink"][:512],
        "caption": item["caption"],
        "posted_at": item["posted_at"],
        "thumbnail": item.get("thumbnail"),
    }


def parse_meta_time(value) -> datetime | None:
    """Meta's ``2019-09-26T22:36:43+0000`` as an aware datetime (None if not)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _is_instagram_url(url) -> bool:
    """Only links to Instagram itself become a tile's link (never javascript:)."""
    if not isinstance(url, str) or len(url) > 512:
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "") in INSTAGRAM_HOSTS


def _is_web_url(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") and len(url) <= 2048


def _count(value) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _is_high(usage: Usage | None) -> bool:
    return usage is not None and usage.is_high()


def _later(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known, default=None)


def _posts_note(count) -> str:
    return f" ({count:,} posts on the profile)" if isinstance(count, int) else ""


refresher = FeedRefresher()
