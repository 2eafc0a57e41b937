"""Instagram Graph API simulator (Facebook Login variant): demo mode, tests, benches.

Demo mode, tests and benches cannot talk to Meta, so this package plays Meta: it
answers the Graph endpoints Ospost uses with Meta's JSON shapes, error envelopes and
codes (as Meta documents them for the Graph API and Instagram content publishing),
and it acts as Meta's crawler by downloading every ``image_url`` it is given.

Where things live: the simulated world (:class:`GraphWorld`, ``world/``), its WSGI
front end and ``/_sim/`` control API (:func:`create_simulator`, ``frontend.py``), a
real threaded HTTP server around it (:class:`SimulatorServer`, ``server.py``) and a
CLI (``python -m simulator --port 5001``, ``cli.py``).  Import from ``simulator``
itself: the names in ``__all__`` are the API, the submodules are internals.

Built-in fake Facebook users (same ids after construction and after ``reset()``;
``DEMO_USERS`` maps handle -> fb_user_id):

* ``demo``  -- fb_user_id 10000000000001 "Demo User": Page "Ospost Demo Café"
  200000000000001 -> IG business account 17841400000000001 ``ospost.demo``.
* ``multi`` -- fb_user_id 10000000000002 "Multi Page Owner": Pages "Multi One"
  200000000000002 -> IG 17841400000000002 ``multi.one``; "Multi Two" 200000000000003
  -> IG 17841400000000003 ``multi.two``; "Multi Blog" 200000000000004, no IG account.
* ``noig``  -- fb_user_id 10000000000003 "No Instagram": Page "Plain Page"
  200000000000005, no IG account.
* ``other`` -- fb_user_id 10000000000004 "Other Person": Page "Other Brand"
  200000000000006 -> IG 17841400000000004 ``other.brand``.

Users made with ``add_user()`` get fresh ids from 10000000000101 (users),
200000000000101 (pages) and 17841400000000101 (IG accounts) upwards.

Errors, as Meta sends them (HTTP 400 unless noted):

* no token: 104 (2500 on ``/me``); unparsable token: 190; expired: 190/463;
  invalidated: 190/<subcode> (460 password change, 458, 459, 464, 467, 492);
  bad ``appsecret_proof`` or missing when required: 100 (``GraphMethodException``).
* exchange: wrong ``client_id`` 101, wrong ``client_secret`` 1, other app's token 190.
* ``debug_token``: bad app token 190, user token as app token 100, input token of
  another app 100; dead input tokens answer ``is_valid: false`` plus ``error``.
* unknown object, or one the user cannot see: 100/33; unknown edge: 100
  ("Tried accessing nonexisting field"); deeper unknown paths: 2500.
* create/publish on an IG account the user does not manage: 10, HTTP 403.
* crawler: fetch failed 9004/2207052, not JPEG (MPO too) 36001/2207005,
  > 8 MiB 36000/2207004, ratio outside 0.8..1.91 36003/2207009.
* caption > 2,200 chars or > 30 hashtags 36004/2207010; > 20 @mentions 100/2207040.
* publish: unknown/foreign/already published container 24/2207006, not finished
  9007/2207027, expired -2/2207020, container in ERROR -1/2207032, quota 9/2207042.
* carousels (``media_type=CAROUSEL``, ``children``): fewer than 2 or more than
  10 items 100/2207028; an item unknown, foreign or already published
  24/2207006, not FINISHED 9007/2207027, expired -2/2207020, in ERROR
  -1/2207032. Items (``is_carousel_item=true``) finish at different times and
  refuse ``caption``, ``collaborators`` and ``location_id`` (100, "The param
  collaborators is not allowed for carousel child").
* people: a tagged username or collaborator that is unknown, private or
  malformed (a leading "@") 110/2207018 "Cannot load user with a private
  profile or invalid username"; more than 3 collaborators 100; more than 20
  tags 100/2207040; tag x/y outside 0..1 100. ``add_person()`` adds accounts.
* comments (``POST``/``GET /{ig-media-id}/comments``): without
  ``instagram_manage_comments`` 10 (HTTP 403); empty ``message`` 100.
* throttling (``usage.py``): app over its hourly limit 4, an Instagram account over
  its 24-hour Business Use Case limit 80002; every answer carries ``X-App-Usage``
  and, for account calls, ``X-Business-Use-Case-Usage``.

Every IG account already has 24-60 posts (``feed.py``; ``existing_feed=False``
hides them); ``GET /{ig-user-id}/media`` lists them with the published ones,
newest first, and picture URLs point at ``/_sim/cdn/`` with an expiry, like
Meta's CDN (403 once expired).
* Reels (``media_type=REELS``) and Stories (``STORIES``, image or video): the
  video is downloaded and inspected with PyAV at once, the container stays
  IN_PROGRESS for ``video_processing_seconds`` and then ends FINISHED, or ERROR
  (status "... error code 2207026") for a video outside Meta's spec (not
  MOV/MP4, moov not in front, not H.264/HEVC 4:2:0, length, 23-60 fps, over
  1920 px wide or 25 Mbps, sound not AAC <= 48 kHz stereo, file too big);
  publishing that container is 352/2207026.  Missing ``video_url`` 100, more
  than 3 collaborators 100, bad ``thumb_offset``/``share_to_feed`` 100; a
  ``cover_url`` is crawled like an image.  Stories are read from
  ``GET /{ig-user-id}/stories`` for 24 hours, not from ``/media``.  Faults can
  match ``media_type`` (IMAGE, CAROUSEL, REELS, STORIES).
"""

from simulator.cli import main
from simulator.constants import ALT_TEXT_MAX_CHARS
from simulator.constants import APP_NAME
from simulator.constants import CAPTION_MAX_CHARS
from simulator.constants import CAPTION_MAX_HASHTAGS
from simulator.constants import CAPTION_MAX_MENTIONS
from simulator.constants import CRAWLER_USER_AGENT
from simulator.constants import DATA_ACCESS_SECONDS
from simulator.constants import DEFAULT_API_VERSION
from simulator.constants import DEFAULT_APP_ID
from simulator.constants import DEFAULT_APP_SECRET
from simulator.constants import DEFAULT_FAIL_KINDS
from simulator.constants import DEFAULT_SCOPES
from simulator.constants import DEMO_USERS
from simulator.constants import ENDPOINTS
from simulator.constants import MAX_ASPECT_RATIO
from simulator.constants import MAX_IMAGE_BYTES
from simulator.constants import MIN_ASPECT_RATIO
from simulator.constants import PAGE_SIZE
from simulator.constants import PAGE_TASKS
from simulator.errors import GraphError
from simulator.frontend import create_simulator
from simulator.helpers import appsecret_proof
from simulator.imaging import avatar_png
from simulator.imaging import feed_image
from simulator.imaging import sample_image
from simulator.records import GraphRequest
from simulator.records import Reply
from simulator.server import SimulatorServer
from simulator.settings import Settings
from simulator.world import GraphWorld

__all__ = [
    "ALT_TEXT_MAX_CHARS",
    "APP_NAME",
    "CAPTION_MAX_CHARS",
    "CAPTION_MAX_HASHTAGS",
    "CAPTION_MAX_MENTIONS",
    "CRAWLER_USER_AGENT",
    "DATA_ACCESS_SECONDS",
    "DEFAULT_API_VERSION",
    "DEFAULT_APP_ID",
    "DEFAULT_APP_SECRET",
    "DEFAULT_FAIL_KINDS",
    "DEFAULT_SCOPES",
    "DEMO_USERS",
    "ENDPOINTS",
    "MAX_ASPECT_RATIO",
    "MAX_IMAGE_BYTES",
    "MIN_ASPECT_RATIO",
    "PAGE_SIZE",
    "PAGE_TASKS",
    "GraphError",
    "GraphRequest",
    "GraphWorld",
    "Reply",
    "Settings",
    "SimulatorServer",
    "appsecret_proof",
    "avatar_png",
    "create_simulator",
    "feed_image",
    "main",
    "sample_image",
]
