"""Instagram accounts that can be tagged in a photo or invited to collaborate.

Meta looks every tagged username and collaborator up when a container is
made: an unknown or private account fails the request with 110/2207018. The
world knows its business accounts (public) and a few people
(``constants.PUBLIC_PEOPLE`` / ``PRIVATE_PEOPLE``); tests add more.
"""

from typing import Any

from simulator.constants import PRIVATE_PEOPLE
from simulator.constants import PUBLIC_PEOPLE
from simulator.constants import USERNAME_RE
from simulator.errors import cannot_load_users
from simulator.world.state import WorldState


class PeopleMixin(WorldState):
    """Who can be tagged or invited, and the check Meta makes."""

    def add_person(self, username: str, *, private: bool = False) -> None:
        """Make ``username`` an Instagram account (public unless ``private``)."""
        if not USERNAME_RE.fullmatch(username):
            raise ValueError(f"not an Instagram username: {username!r}")
        with self._lock:
            self._people[username.lower()] = private

    def people(self) -> list[dict[str, Any]]:
        """Every taggable or private account the world knows, by username."""
        with self._lock:
            known = self._known_people()
            return [
                {"username": name, "private": private}
                for name, private in sorted(known.items())
            ]

    def _known_people(self) -> dict[str, bool]:
        known = dict.fromkeys(PUBLIC_PEOPLE, False)
        known.update(dict.fromkeys(PRIVATE_PEOPLE, True))
        known.update({account.username: False for account in self._ig.values()})
        known.update(self._people)
        return known

    def _check_people(self, usernames: list[str]) -> None:
        """Meta's lookup of tagged people and collaborators (under the lock)."""
        known = self._known_people()
        bad = [name for name in usernames if known.get(name.lower(), True)]
        if bad:
            raise cannot_load_users(bad)
