"""Images: Meta's crawler and the pictures the simulator makes.

The crawler fetches and inspects an ``image_url`` like Meta does; avatars and
sample images are generated for the ``/_sim/`` routes and for tests.
"""

import functools
import hashlib
import io
import logging
import warnings

import urllib3
from PIL import Image
from PIL import ImageDraw
from PIL import UnidentifiedImageError

from simulator.constants import CRAWLER_USER_AGENT
from simulator.constants import MAX_ASPECT_RATIO
from simulator.constants import MAX_IMAGE_BYTES
from simulator.constants import MIN_ASPECT_RATIO
from simulator.errors import bad_format
from simulator.errors import bad_ratio
from simulator.errors import fetch_failed
from simulator.errors import too_large

logger = logging.getLogger("ospost.simulator")


# One pool for every crawl: creating a client per fetch cost more CPU than
# the fetch itself in a burst.
_CRAWLER = urllib3.PoolManager(
    num_pools=8,
    maxsize=8,
    headers={"User-Agent": CRAWLER_USER_AGENT, "Accept": "*/*"},
)
CRAWLER = _CRAWLER  # simulator.video fetches videos through the same pool


def crawl(url: str, timeout: float) -> bytes:
    """Download ``url`` like Meta's crawler; any failure is Meta's 9004/2207052."""
    try:
        resp = _CRAWLER.request(
            "GET", url, timeout=timeout, retries=False, preload_content=False
        )
    except (urllib3.exceptions.HTTPError, ValueError) as exc:
        logger.info("crawler could not fetch %s: %s", url, exc)
        raise fetch_failed(url) from exc
    complete = False
    try:
        if resp.status != 200:
            raise fetch_failed(url)
        data = bytearray()
        for chunk in resp.stream(65536):
            data.extend(chunk)
            if len(data) > MAX_IMAGE_BYTES:
                raise too_large()
        complete = True
        return bytes(data)
    except urllib3.exceptions.HTTPError as exc:
        logger.info("crawler could not fetch %s: %s", url, exc)
        raise fetch_failed(url) from exc
    finally:
        if not complete:
            resp.close()  # unread bytes must not reach the next fetch
        resp.release_conn()


def inspect_image(data: bytes, check_ratio: bool = True) -> tuple[str, int, int]:
    """Return (format, width, height) of a publishable JPEG or raise Meta's error.

    Stories and Reel covers may be 9:16: they pass ``check_ratio=False``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                found, width, height = image.format or "unknown", *image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise bad_format("unknown") from exc
    if found != "JPEG":  # MPO (multi-picture "extended" JPEG) is rejected as well
        raise bad_format(found)
    if check_ratio and not MIN_ASPECT_RATIO <= width / height <= MAX_ASPECT_RATIO:
        raise bad_ratio(width, height)
    return found, width, height


@functools.lru_cache(maxsize=256)
def avatar_png(ig_user_id: str) -> bytes:
    """Return a small PNG avatar whose colour is derived from the account id."""
    digest = hashlib.sha256(ig_user_id.encode()).digest()
    image = Image.new("RGB", (150, 150), (digest[0], digest[1], digest[2]))
    draw = ImageDraw.Draw(image)
    draw.ellipse((35, 35, 115, 115), fill=(digest[3], digest[4], digest[5]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@functools.lru_cache(maxsize=64)
def sample_image(width: int, height: int, image_format: str = "JPEG") -> bytes:
    """Return a generated test image of the given size and Pillow format."""
    image = Image.new("RGB", (width, height), (220, 120, 60))
    ImageDraw.Draw(image).rectangle(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(40, 90, 160)
    )
    buffer = io.BytesIO()
    if image_format == "MPO":
        image.save(buffer, "MPO", save_all=True, append_images=[image.copy()])
    else:
        image.save(buffer, image_format)
    return buffer.getvalue()


@functools.lru_cache(maxsize=128)
def feed_image(media_id: str, width: int = 1080, height: int = 1350) -> bytes:
    """Return the JPEG Meta's CDN would serve for a post: a varied picture
    (sky, sun and a cup, coloured from the media id), the same for one id."""
    digest = hashlib.sha256(media_id.encode()).digest()
    top = (digest[0], digest[1], digest[2])
    bottom = (digest[3] // 2, digest[4] // 2, digest[5] // 2)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 6):  # a vertical gradient in 6 px bands
        mix = y / height
        color = tuple(
            round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True)
        )
        draw.rectangle((0, y, width, y + 6), fill=color)
    radius = width // 8 + digest[6] % (width // 8)
    cx = width // 5 + digest[7] * width // 400
    cy = height // 6 + digest[8] * height // 800
    draw.ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius), fill=(250, 220, 120)
    )
    cup_w, cup_h = width // 3, height // 4
    left, base = width // 2 - cup_w // 3, height - height // 8
    cup = (digest[9], 255 - digest[9], digest[10])
    draw.rounded_rectangle((left, base - cup_h, left + cup_w, base), 24, fill=cup)
    draw.ellipse(
        (left + cup_w - 20, base - cup_h * 3 // 4, left + cup_w + cup_w // 3,
         base - cup_h // 4),
        outline=cup,
        width=18,
    )  # fmt: skip
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()
