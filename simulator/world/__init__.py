"""The simulated Meta: :class:`GraphWorld`, one mixin per concern.

Where things are: ``state.py`` (tables, lock, settings, reset), ``dispatch.py``
(routing and the call log), ``faults.py``, ``accounts.py`` (users, Pages, IG
accounts), ``tokens.py`` (login and tokens), ``containers.py`` (containers and
publishing), ``video.py`` (Reels and Stories), ``quota.py`` and ``media.py``
(published posts).  The mixins call
one another through ``self``, as the methods of the one class they used to be.
"""

from simulator.world.accounts import AccountsMixin
from simulator.world.containers import ContainersMixin
from simulator.world.dispatch import DispatchMixin
from simulator.world.faults import FaultsMixin
from simulator.world.media import MediaMixin
from simulator.world.quota import QuotaMixin
from simulator.world.tokens import TokensMixin
from simulator.world.video import VideoMixin

__all__ = ["GraphWorld"]


class GraphWorld(
    DispatchMixin,
    FaultsMixin,
    AccountsMixin,
    TokensMixin,
    ContainersMixin,
    QuotaMixin,
    MediaMixin,
    VideoMixin,
):
    """All simulator state (users, tokens, containers, media, faults, call log).

    Thread-safe: one re-entrant lock guards the state; network fetches and sleeps
    happen outside it.  Tests can drive it directly through its plain Python API.

    Its constructor, ``settings``, ``configure()`` and ``reset()`` come from
    :class:`~simulator.world.state.WorldState`.
    """
