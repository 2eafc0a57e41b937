"""Posting slots as plain arithmetic: weekly wall-clock times turned into instants.

A slot is a weekday and a minute of the day on the account's own clock ("Mon
09:00" in Europe/Berlin). Nothing here touches the database or the request:
callers hand in the slots, the zone, the window and the times already taken.

How slots meet daylight-saving time (the rules the tests pin down):

* A slot follows the wall clock: Mon 09:00 is 09:00 local before and after
  the clocks change, so its UTC instant moves by the size of the change.
* A local time that does not exist that day (the spring-forward gap, e.g.
  02:30 on Berlin's last Sunday of March) moves to the first instant after the
  gap: the moment the clocks jump (03:00 CEST). Skipping it would silently drop
  a post from that week, and the person planned one post per slot; moving it
  by less than the gap keeps the week's count and the slots' order. Shifting by
  the whole gap instead (02:30 read as 03:30) could pass a later slot of the
  same day (03:15) and swap their order; the jump moment never can.
* A local time that happens twice (clocks going back) means its first
  occurrence, as a typed date does (``helpers.parse_local_datetime``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_NAMES = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
MINUTES_PER_DAY = 24 * 60
# Two posts closer than this clash; a slot this close to a post is taken.
CLASH_WINDOW = timedelta(minutes=30)
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class SlotError(ValueError):
    """A slot the person typed cannot be used; the message says why."""


@dataclass(frozen=True, order=True)
class Slot:
    """One weekly posting time: ``weekday`` 0 (Monday) to 6, ``minute`` of the day."""

    weekday: int
    minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise SlotError("Choose a weekday from Monday to Sunday.")
        if not 0 <= self.minute < MINUTES_PER_DAY:
            raise SlotError("Enter a time between 00:00 and 23:59.")

    @property
    def clock(self) -> str:
        """``09:30``: the slot's time of day as the account's clock shows it."""
        return f"{self.minute // 60:02d}:{self.minute % 60:02d}"

    @property
    def label(self) -> str:
        """``Mon 09:30``."""
        return f"{WEEKDAYS[self.weekday]} {self.clock}"


def parse_clock(value: str | None) -> int:
    """The minute of the day of a typed ``HH:MM`` (what an <input type=time> sends)."""
    match = _HHMM.match((value or "").strip())
    if not match:
        raise SlotError("Enter the time as HH:MM, for example 09:00 or 18:30.")
    return int(match[1]) * 60 + int(match[2])


def parse_weekdays(values: Iterable[str]) -> list[int]:
    """Weekday numbers from the form's checkboxes ("0" is Monday), sorted, unique."""
    days = set()
    for value in values:
        if value not in {str(i) for i in range(7)}:
            raise SlotError("Choose weekdays from Monday to Sunday.")
        days.add(int(value))
    if not days:
        raise SlotError("Choose at least one weekday.")
    return sorted(days)


# -- wall clock to instants --------------------------------------------------


def wall_time_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """The aware UTC instant at which clocks in ``zone`` show ``naive``.

    Follows the module's rules: a time in a spring-forward gap becomes the
    moment the clocks jump; a time that happens twice, its first occurrence.
    """
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == naive:
        return first
    # In a gap, fold=0 reads the time with the offset from before the jump
    # (an instant after the jump) and fold=1 with the offset after it (an
    # instant before the jump); the jump lies between. Clocks only move forward
    # there, so a binary search over seconds finds the first instant past it.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(first, before), max(first, before)
    while hi - lo > timedelta(seconds=1):
        mid = lo + timedelta(seconds=(hi - lo) // timedelta(seconds=1) // 2)
        if _wall(mid, zone) > naive:
            hi = mid
        else:
            lo = mid
    return hi


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def slot_times(
    slots: Iterable[Slot], zone: ZoneInfo, after: datetime, until: datetime
) -> list[datetime]:
    """Every slot instant after ``after`` and no later than ``until``, in order.

    Two slots that land on the same instant (one moved out of a DST gap onto
    the other) count once.
    """
    by_day: dict[int, list[int]] = {}
    for slot in slots:
        by_day.setdefault(slot.weekday, []).append(slot.minute)
    if not by_day or until <= after:
        return []
    # A day either side: a zone's local date can differ from UTC's.
    day = after.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date() + timedelta(days=1)
    found = set()
    while day <= last:
        for minute in by_day.get(day.weekday(), ()):
            when = wall_time_to_utc(_at(day, minute), zone)
            if after < when <= until:
                found.add(when)
        day += timedelta(days=1)
    return sorted(found)


def _at(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60))


# -- the queue ---------------------------------------------------------------


def is_taken(when: datetime, taken: list[datetime], window=CLASH_WINDOW) -> bool:
    """True when a time in the sorted list ``taken`` is closer than ``window``."""
    i = bisect.bisect_left(taken, when - window)
    return i < len(taken) and abs(taken[i] - when) < window


def next_free_slot(
    slots: Iterable[Slot],
    zone: ZoneInfo,
    after: datetime,
    until: datetime,
    taken: Iterable[datetime],
    window: timedelta = CLASH_WINDOW,
) -> datetime | None:
    """The first slot instant in (``after``, ``until``] with no taken time near it.

    ``taken`` are the times of posts already scheduled; a slot is taken when
    one of them is closer than ``window``. None when every slot is taken.
    """
    busy = sorted(taken)
    for when in slot_times(slots, zone, after, until):
        if not is_taken(when, busy, window):
            return when
    return None


def one_slot_later(
    times: list[datetime], slots: Iterable[Slot], zone: ZoneInfo, until: datetime
) -> list[datetime | None]:
    """Each of ``times`` (sorted) moved to a later slot, keeping their order.

    A post on a slot moves to the next slot; one between slots moves to the
    next slot after it; no two share a slot. An entry is None when no slot is
    left before ``until``.
    """
    if not times:
        return []
    candidates = slot_times(slots, zone, times[0], until)
    moved: list[datetime | None] = []
    i = 0
    for when in times:
        floor = max(when, moved[-1]) if moved else when
        i = bisect.bisect_right(candidates, floor, lo=i)
        if i >= len(candidates):
            moved.extend([None] * (len(times) - len(moved)))
            break
        moved.append(candidates[i])
    return moved
