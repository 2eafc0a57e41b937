"""Facebook users, their Pages and IG business accounts.

Who manages what, and the ``/me``, ``/me/accounts``, ``/{page-id}`` and
``/{ig-user-id}`` reads.
"""

from typing import Any

from simulator.constants import DEMO_USERS
from simulator.errors import no_permission
from simulator.errors import unsupported
from simulator.helpers import paginate
from simulator.helpers import select
from simulator.records import GraphRequest
from simulator.records import IgAccount
from simulator.records import Node
from simulator.records import Page
from simulator.records import Route
from simulator.records import Token
from simulator.records import User
from simulator.world.state import WorldState


class AccountsMixin(WorldState):
    """Users, Pages and IG accounts, and the Graph reads about them."""

    def add_user(self, name: str, pages: list[dict[str, Any]]) -> dict[str, Any]:
        """Create a Facebook user with Pages (optionally IG-linked); return its ids."""
        with self._lock:
            specs = []
            for page in pages:
                ig_username = page.get("ig_username")
                ig_id = self._ids.take("ig") if ig_username else None
                specs.append((self._ids.take("page"), page["name"], ig_id, ig_username))
            user_id = self._ids.take("user")
            self._install_user(user_id, name, None, specs)
            for spec, page in zip(specs, pages, strict=True):
                if page.get("tasks") is not None:
                    self._pages[spec[0]].tasks = tuple(page["tasks"])
            return self._user_summary(self._users[user_id])

    def users(self) -> list[dict[str, Any]]:
        """Return every user with their Pages and linked IG accounts."""
        with self._lock:
            return [self._user_summary(user) for user in self._users.values()]

    def has_ig_account(self, ig_user_id: str) -> bool:
        """Tell whether an IG business account with this id exists."""
        with self._lock:
            return ig_user_id in self._ig

    def _resolve_user(self, ref: str) -> str:
        ref = str(ref)
        if ref in self._users:
            return ref
        if ref in DEMO_USERS and DEMO_USERS[ref] in self._users:
            return DEMO_USERS[ref]
        raise LookupError(f"unknown Facebook user {ref!r}")

    def _user_summary(self, user: User) -> dict[str, Any]:
        pages = []
        for page_id in user.page_ids:
            page = self._pages[page_id]
            ig = self._ig.get(page.ig_user_id or "")
            pages.append(
                {
                    "id": page.id,
                    "name": page.name,
                    "ig_user_id": page.ig_user_id,
                    "ig_username": ig.username if ig else None,
                }
            )
        return {"fb_user_id": user.id, "name": user.name, "pages": pages}

    def _manages(self, fb_user_id: str, ig_user_id: str) -> bool:
        account = self._ig.get(ig_user_id)
        if account is None:
            return False
        page = self._pages[account.page_id]
        can_post = {"MANAGE", "CREATE_CONTENT"} & set(self._tasks_of(page, fb_user_id))
        return bool(can_post)

    def _managed_ig(self, token: Token, ig_user_id: str, method: str) -> IgAccount:
        """Return the IG account if the token's user manages it, else Meta's error."""
        account = self._ig.get(ig_user_id)
        if account is None:
            raise unsupported(method, ig_user_id)
        if not self._manages(token.fb_user_id, ig_user_id):
            if method == "GET":
                raise unsupported(method, ig_user_id)
            raise no_permission()
        return account

    @staticmethod
    def _require_scope(token: Token, scope: str) -> None:
        if scope not in token.scopes:
            raise no_permission()

    def _me(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``/me`` (or ``/{user-id}`` of the caller): the Facebook user."""
        if req.method != "GET":
            raise unsupported(req.method, route.object_id or "me")
        with self._lock:
            token = self._auth(req, about_me=True)
            if route.object_id not in ("me", token.fb_user_id):
                raise unsupported(req.method, route.object_id or "")
            user = self._users[token.fb_user_id]
            values = {"id": user.id, "name": user.name}
            return select(values, req.params.get("fields"), ("name", "id"))

    def _accounts(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``/me/accounts``: the caller's Pages (IG account only when linked)."""
        if req.method != "GET":
            raise unsupported(req.method, "me")
        with self._lock:
            token = self._auth(req, about_me=True)
            user = self._users[token.fb_user_id]
            shown = user.page_ids if "pages_show_list" in token.scopes else []
            spec = req.params.get("fields")
            default = ("access_token", "category", "name", "id", "tasks")
            items = [
                select(
                    self._page_values(self._pages[pid], token, req.base_url),
                    spec,
                    default,
                )
                for pid in shown
            ]
            return paginate(req, items)

    def _page(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``/{page-id}``: a Page the caller manages."""
        with self._lock:
            token = self._auth(req)
            page = self._pages[route.object_id or ""]
            if not self._tasks_of(page, token.fb_user_id) or req.method != "GET":
                raise unsupported(req.method, page.id)
            values = self._page_values(page, token, req.base_url)
            return select(values, req.params.get("fields"), ("name", "id"))

    def _ig_user(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``/{ig-user-id}``: the IG business account profile."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.object_id or "", "GET")
            if req.method != "GET":
                raise unsupported(req.method, account.id)
            self._require_scope(token, "instagram_basic")
            values = self._ig_values(account, req.base_url)
            return select(values, req.params.get("fields"), ("id",))

    def _ig_values(self, account: IgAccount, base_url: str) -> Node:
        def media_count() -> int:  # computed only when the field is asked for
            return sum(
                1
                for m in self._media.values()
                if m.ig_user_id == account.id and self._visible(m)
            )

        return Node(
            id=account.id,
            username=account.username,
            name=account.name,
            profile_picture_url=f"{base_url}_sim/avatar/{account.id}.png",
            followers_count=1000 + int(account.id) % 9000,
            follows_count=100 + int(account.id) % 400,
            media_count=media_count,
            biography="",
            website="",
        )

    def _page_values(self, page: Page, token: Token, base_url: str) -> Node:
        values = Node(
            id=page.id,
            name=page.name,
            category="Brand",
            tasks=list(self._tasks_of(page, token.fb_user_id)),
            access_token=lambda: self._page_token(token, page),
        )
        if page.ig_user_id:
            account = self._ig[page.ig_user_id]
            values["instagram_business_account"] = self._ig_values(account, base_url)
        return values
