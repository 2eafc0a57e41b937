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
