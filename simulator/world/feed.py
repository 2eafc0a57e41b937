"""The history every IG account already has, and Meta's expiring CDN URLs.

Each account starts with 24-60 posts (mostly photos, a few carousels and Reels),
generated from its id so the same account always has the same history. Their
pictures, and those of posts published through the simulator, are served by the
simulator as Meta's CDN would: ``/_sim/cdn/<media-id>.jpg`` with an ``oe``
expiry (hex Unix time) and an ``oh`` signature; an expired or altered URL is
refused with 403, as Meta's CDN does.
"""

import hashlib
import hmac
import random
import time
from urllib.parse import urlencode

from simulator.helpers import shortcode
from simulator.records import IgAccount
from simulator.records import Media
from simulator.world.state import WorldState

DAY = 86400.0
EXISTING_MIN, EXISTING_MAX = 24, 60

# (media_type, media_product_type, picture width, height) by share of posts.
_KINDS = (
    (70, ("IMAGE", "FEED", 1080, 1350)),
    (12, ("IMAGE", "FEED", 1080, 1080)),
    (10, ("CAROUSEL_ALBUM", "FEED", 1080, 1350)),
    (8, ("VIDEO", "REELS", 1080, 1920)),
)
# Captions by media type (posts without one are common too).
_CAPTIONS = {
    "IMAGE": (
        "Fresh croissants out of the oven this morning ☕️ #bakery",
        "Our new seasonal menu is here. Which one are you trying first? #menu",
        "Latte art practice, day {n} #latteart",
        "Sunday brunch is back! Book through the link in our bio. #brunch",
        "Rainy day = hot chocolate day ☔️ #cozy",
        "Thank you for {n} wonderful weeks on the corner of Rue Oberkampf ❤️",
        "",
    ),
    "CAROUSEL_ALBUM": (
        "Swipe for the full pastry counter → #pastry",
        "Meet the farmers behind our single-origin beans 🌱 #coffee",
    ),
    "VIDEO": (
        "How we pour the perfect flat white (sound on) #reels",
        "Behind the bar with our head barista 👋 #behindthescenes",
    ),
}


class FeedMixin(WorldState):
    """Existing posts of each IG account and the CDN URLs of all posts."""

    def _seed_feed(self, account: IgAccount, now: float) -> None:
        """Give ``account`` its history of posts, oldest first (lock held)."""
        rng = random.Random(int(account.id))
        count = rng.randint(EXISTING_MIN, EXISTING_MAX)
        weights = [share for share, _ in _KINDS]
        when = now - DAY * 2 - rng.uniform(0, DAY / 2)
        history = []
        for _ in range(count):
            media_type, product, width, height = rng.choices(
                [kind for _, kind in _KINDS], weights
            )[0]
            history.append((when, media_type, product, width, height))
            when -= rng.uniform(DAY, 4 * DAY)
        base = 17800000000000000 + int(account.id[-5:]) * 1000
        for index, (when, media_type, product, width, height) in enumerate(
            reversed(history)
        ):
            media_id = str(base + index)
            captions = _CAPTIONS[media_type]
            caption = captions[rng.randrange(len(captions))].format(n=index + 1)
            self._media[media_id] = Media(
                id=media_id,
                ig_user_id=account.id,
                container_id="",
                caption=caption,
                alt_text="",
                image_url="",
                image_sha256="",
                width=width,
                height=height,
                image_format="JPEG",
                published_at=when,
                shortcode=shortcode(media_id),
                media_type=media_type,
                product_type=product,
                existing=True,
            )

    def _visible(self, media: Media) -> bool:
        """Whether a post is on the account (existing ones can be switched off)."""
        return not media.existing or self._settings.existing_feed

    def _cdn_url(self, media: Media, base_url: str, ext: str = "jpg") -> str:
        """A fresh signed CDN URL for a post's picture (or video), as Meta gives."""
        expires = int(time.time() + self._settings.cdn_url_ttl)
        query = {"_nc_cat": "1", "oe": f"{expires:08X}"}
        query["oh"] = self._cdn_signature(media.id, ext, query["oe"])
        return f"{base_url}_sim/cdn/{media.id}.{ext}?{urlencode(query)}"

    def _cdn_signature(self, media_id: str, ext: str, oe: str) -> str:
        message = f"{media_id}.{ext}:{oe}".encode()
        key = self.app_secret.encode()
        return "00_" + hmac.new(key, message, hashlib.sha256).hexdigest()[:32]

    def cdn_picture(self, media_id: str, oe: str, oh: str) -> tuple[int, int]:
        """Check a CDN URL; return the picture's size to serve.

        Raises LookupError for an unknown post and PermissionError (with the
        text Meta's CDN answers) for an expired or altered URL.
        """
        with self._lock:
            media = self._media.get(media_id)
            if media is None or not self._visible(media):
                raise LookupError(f"unknown media {media_id}")
            expected = self._cdn_signature(media_id, "jpg", oe)
            if not hmac.compare_digest(expected, oh or ""):
                raise PermissionError("Bad URL hash")
            try:
                expires = int(oe, 16)
            except ValueError as exc:
                raise PermissionError("Bad URL timestamp") from exc
            if expires < time.time():
                raise PermissionError("URL signature expired")
            if media.media_type == "VIDEO":
                return 1080, 1920
            return media.width or 1080, media.height or 1350
