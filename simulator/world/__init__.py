"""The simulated Meta: :class:`GraphWorld`, one mixin per concern.

Where things are: ``state.py`` (tables, lock, settings, reset), ``dispatch.py``
(routing and the call log), ``faults.py``, ``accounts.py`` (users, Pages, IG
accounts), ``roles.py`` (several people on one Page), ``people.py`` (who can
be tagged or invited), ``tokens.py`` (login and tokens), ``containers.py``
(containers and publishing), ``carousels.py``, ``quota.py``, ``media.py``
(published posts), ``comments.py``, ``video.py``
(Reels and Stories), ``feed.py`` (each account's existing
posts and the CDN URLs of pictures) and ``usage.py`` (rate-limit headers and
throttling).  The mixins call one another through
``self``, as the methods of the one class they used to be.
"""

from simulator.world.accounts import AccountsMixin
from simulator.world.carousels import CarouselsMixin
from simulator.world.comments import CommentsMixin
from simulator.world.containers import ContainersMixin
from simulator.world.dispatch import DispatchMixin
from simulator.world.faults import FaultsMixin
from simulator.world.feed import FeedMixin
from simulator.world.media import MediaMixin
from simulator.world.people import PeopleMixin
from simulator.world.quota import QuotaMixin
from simulator.world.roles import PageRolesMixin
from simulator.world.tokens import TokensMixin
from simulator.world.usage import UsageMixin
from simulator.world.video import VideoMixin

__all__ = ["GraphWorld"]


class GraphWorld(
    DispatchMixin,
    FaultsMixin,
    AccountsMixin,
    PageRolesMixin,
    PeopleMixin,
    TokensMixin,
    ContainersMixin,
    CarouselsMixin,
    QuotaMixin,
    MediaMixin,
    CommentsMixin,
    FeedMixin,
    UsageMixin,
    VideoMixin,
):
    """All simulator state (users, tokens, containers, media, comments, faults,
    call log).

    Thread-safe: one re-entrant lock guards the state; network fetches and sleeps
    happen outside it.  Tests can drive it directly through its plain Python API.

    Its constructor, ``settings``, ``configure()`` and ``reset()`` come from
    :class:`~simulator.world.state.WorldState`.
    """
