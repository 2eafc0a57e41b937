"""Fixed facts of the simulated Meta.

App ids, the built-in demo users, Graph endpoint names, and Instagram's limits and
status texts.
"""

import re

DEFAULT_APP_ID = "1234567890123456"
DEFAULT_APP_SECRET = "demo-app-secret"
DEFAULT_API_VERSION = "v21.0"
APP_NAME = "Ospost"

DEMO_USERS = {
    "demo": "10000000000001",
    "multi": "10000000000002",
    "noig": "10000000000003",
    "other": "10000000000004",
}

DEFAULT_SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
    "public_profile",
)
PAGE_TASKS = ("ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE")
DEFAULT_FAIL_KINDS = (
    "http500",
    "timeout",
    "code1",
    "code2",
    "code4",
    "code17",
    "code613",
    "not_ready",
)
ENDPOINTS = (
    "exchange",
    "debug_token",
    "me",
    "accounts",
    "page",
    "ig_user",
    "create",
    "create_item",
    "create_carousel",
    "status",
    "publish",
    "limit",
    "media_list",
    "media",
    "comment",
    "comments",
    "stories",
    "unknown",
)
# The endpoints that make a container (POST /{ig-user-id}/media).
CREATE_ENDPOINTS = ("create", "create_item", "create_carousel")

CRAWLER_USER_AGENT = "facebookexternalhit/1.1"
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MIN_ASPECT_RATIO = 0.8
MAX_ASPECT_RATIO = 1.91
CAPTION_MAX_CHARS = 2200
CAPTION_MAX_HASHTAGS = 30
CAPTION_MAX_MENTIONS = 20
ALT_TEXT_MAX_CHARS = 1000
CAROUSEL_MIN_ITEMS = 2
CAROUSEL_MAX_ITEMS = 10
USER_TAGS_MAX = 20
COLLABORATORS_MAX = 3
# Instagram accounts that can be tagged or invited besides the built-in
# business accounts (public), and one that cannot (private).
PUBLIC_PEOPLE = ("jane.doe", "chef.marco", "studio.lumen", "nora.travels")
PRIVATE_PEOPLE = ("private.paula",)
USERNAME_RE = re.compile(r"[A-Za-z0-9._]{1,30}")
DATA_ACCESS_SECONDS = 90 * 86400
PAGE_SIZE = 25

VERSION_RE = re.compile(r"v\d+\.\d+")
HASHTAG_RE = re.compile(r"#\w+")
MENTION_RE = re.compile(r"@[\w.]+")
URL_SECRETS = ("access_token", "fb_exchange_token", "input_token", "client_secret")
GRAPH_DOCS = "https://developers.facebook.com/docs/graph-api"

BUILTIN_USERS = (
    (
        "demo",
        "Demo User",
        (("200000000000001", "Ospost Demo Café", "17841400000000001", "ospost.demo"),),
    ),
    (
        "multi",
        "Multi Page Owner",
        (
            ("200000000000002", "Multi One", "17841400000000002", "multi.one"),
            ("200000000000003", "Multi Two", "17841400000000003", "multi.two"),
            ("200000000000004", "Multi Blog", None, None),
        ),
    ),
    ("noig", "No Instagram", (("200000000000005", "Plain Page", None, None),)),
    (
        "other",
        "Other Person",
        (("200000000000006", "Other Brand", "17841400000000004", "other.brand"),),
    ),
)

STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours of creation.",
    "ERROR": "Error: Media upload has failed with error code 2207001",
}
