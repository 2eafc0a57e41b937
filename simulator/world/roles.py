"""Page roles: several Facebook users managing one Page (and so its Instagram
account), as Meta's Page access (Business Suite "People") allows.

A Page's creator holds it with ``Page.tasks``; anyone granted a role holds it
with their own tasks (``Page.roles``). ``/me/accounts`` lists every Page a
person holds, with *their* tasks, and only people whose tasks include
``MANAGE`` or ``CREATE_CONTENT`` may publish to its Instagram account. Taking a
role away (or the creator's) makes the Page vanish from that person's
``/me/accounts`` and their calls on the account fail, as on Meta.
"""

from typing import Any

from simulator.constants import PAGE_TASKS
from simulator.records import Page
from simulator.world.state import WorldState


class PageRolesMixin(WorldState):
    """Grant and revoke a person's role on a Page."""

    def grant_page(
        self, page_id: str, fb_user_id: str, tasks: list[str] | None = None
    ) -> dict[str, Any]:
        """Let ``fb_user_id`` manage ``page_id`` (all tasks unless told); returns
        the person's summary."""
        with self._lock:
            user_id = self._resolve_user(fb_user_id)
            page = self._page_by_id(page_id)
            page.roles[user_id] = tuple(tasks) if tasks is not None else PAGE_TASKS
            user = self._users[user_id]
            if page.id not in user.page_ids:
                user.page_ids.append(page.id)
            return self._user_summary(user)

    def revoke_page(self, page_id: str, fb_user_id: str) -> dict[str, Any]:
        """Take ``fb_user_id``'s role on ``page_id`` away (the creator's too)."""
        with self._lock:
            user_id = self._resolve_user(fb_user_id)
            page = self._page_by_id(page_id)
            page.roles[user_id] = ()
            user = self._users[user_id]
            if page.id in user.page_ids:
                user.page_ids.remove(page.id)
            return self._user_summary(user)

    def _page_by_id(self, page_id: str) -> Page:
        page = self._pages.get(str(page_id))
        if page is None:
            raise LookupError(f"unknown Page {page_id!r}")
        return page

    def _tasks_of(self, page: Page, fb_user_id: str) -> tuple[str, ...]:
        """The tasks ``fb_user_id`` holds on ``page`` (none: not theirs)."""
        if fb_user_id in page.roles:
            return page.roles[fb_user_id]
        if page.owner_id == fb_user_id:
            return page.tasks
        return ()
