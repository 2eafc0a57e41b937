"""The world's state: its tables, the lock, the settings and ``reset()``.

Every mixin of :class:`~simulator.world.GraphWorld` subclasses :class:`WorldState`
and works on this state under ``self._lock``.
"""

import random
import threading
import time
from collections import deque
from typing import Any

from simulator.constants import BUILTIN_USERS
from simulator.constants import DEFAULT_APP_ID
from simulator.constants import DEFAULT_APP_SECRET
from simulator.constants import DEMO_USERS
from simulator.records import Comment
from simulator.records import Container
from simulator.records import IgAccount
from simulator.records import Media
from simulator.records import Page
from simulator.records import Token
from simulator.records import User
from simulator.settings import Settings


class _Ids:
    """Monotonic id sources; they never restart, so ids stay unique across resets."""

    def __init__(self) -> None:
        self._next = {
            "user": 10000000000101,
            "page": 200000000000101,
            "ig": 17841400000000101,
            "container": 17890000000000001,
            "media": 17920000000000001,
            "comment": 17950000000000001,
        }

    def take(self, kind: str) -> str:
        value = self._next[kind]
        self._next[kind] = value + 1
        return str(value)


class WorldState:
    """State shared by the mixins; one re-entrant lock guards it."""

    def __init__(
        self,
        app_id: str = DEFAULT_APP_ID,
        app_secret: str = DEFAULT_APP_SECRET,
        **settings: Any,
    ) -> None:
        self.app_id = str(app_id)
        self.app_secret = app_secret
        self._defaults = Settings().updated(**settings)
        self._lock = threading.RLock()
        self._ids = _Ids()
        self.reset()

    @property
    def settings(self) -> Settings:
        """The settings in force right now."""
        return self._settings

    @property
    def app_token(self) -> str:
        """The ``{app-id}|{app-secret}`` app token ``/debug_token`` accepts."""
        return f"{self.app_id}|{self.app_secret}"

    def configure(self, **settings: Any) -> None:
        """Change settings (see :class:`Settings`); a new ``seed`` reseeds faults."""
        with self._lock:
            self._settings = self._settings.updated(**settings)
            if "seed" in settings:
                self._rng = random.Random(self._settings.seed)

    def reset(self) -> None:
        """Return to the built-in users and this world's construction settings."""
        with self._lock:
            self._settings = self._defaults
            self._rng = random.Random(self._settings.seed)
            self._users: dict[str, User] = {}
            self._pages: dict[str, Page] = {}
            self._ig: dict[str, IgAccount] = {}
            self._tokens: dict[str, Token] = {}
            self._page_tokens: dict[tuple[str, str], str] = {}
            self._containers: dict[str, Container] = {}
            self._media: dict[str, Media] = {}
            self._comments: dict[str, Comment] = {}
            # Accounts added by add_person(): username -> private.
            self._people: dict[str, bool] = {}
            self._faults: list[list[Any]] = []
            self._calls: list[dict[str, Any]] = []
            self._in_flight: list[str] = []
            # Times of the calls in each usage window (UsageMixin): the app's
            # last hour, and each Instagram account's last 24 hours.
            self._app_calls: deque[float] = deque()
            self._buc_calls: dict[str, deque[float]] = {}
            for handle, name, pages in BUILTIN_USERS:
                self._install_user(DEMO_USERS[handle], name, handle, pages)

    def _install_user(self, user_id: str, name: str, handle: str | None, pages) -> None:
        user = User(user_id, name, handle)
        for page_id, page_name, ig_id, ig_username in pages:
            self._pages[page_id] = Page(page_id, page_name, user_id, ig_id)
            if ig_id:
                account = IgAccount(ig_id, ig_username, page_name, page_id)
                self._ig[ig_id] = account
                self._seed_feed(account, time.time())  # FeedMixin
            user.page_ids.append(page_id)
        self._users[user_id] = user
