"""Posting-slot arithmetic (ospost/slots.py): wall-clock slots across daylight-
saving changes in America/Los_Angeles and Europe/Berlin, the half-hour offset of
Asia/Kolkata, the free-slot search and "one slot later"."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from ospost import slots
from ospost.slots import Slot

LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def clock(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


# -- wall clock across DST changes ----------------------------------------------


def test_a_slot_keeps_its_wall_clock_when_los_angeles_springs_forward():
    times = slots.slot_times([Slot(MON, 9 * 60)], LA, utc(2026, 3, 1), utc(2026, 3, 17))
    assert times == [utc(2026, 3, 2, 17), utc(2026, 3, 9, 16), utc(2026, 3, 16, 16)]
    assert [clock(t, LA) for t in times] == [
        "Mon 2026-03-02 09:00 PST",
        "Mon 2026-03-09 09:00 PDT",
        "Mon 2026-03-16 09:00 PDT",
    ]


def test_a_slot_keeps_its_wall_clock_when_berlin_falls_back():
    times = slots.slot_times(
        [Slot(MON, 9 * 60)], BERLIN, utc(2026, 10, 18), utc(2026, 10, 27)
    )
    assert times == [utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)]
    assert [clock(t, BERLIN) for t in times] == [
        "Mon 2026-10-19 09:00 CEST",
        "Mon 2026-10-26 09:00 CET",
    ]


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc", "shown"),
    [
        # 02:30 does not exist: the clocks jump from 02:00 to 03:00.
        (BERLIN, (2026, 3, 29), utc(2026, 3, 29, 1), "Sun 2026-03-29 03:00 CEST"),
        (LA, (2026, 3, 8), utc(2026, 3, 8, 10), "Sun 2026-03-08 03:00 PDT"),
    ],
)
def test_a_slot_in_the_spring_forward_gap_moves_to_the_end_of_the_gap(
    zone, day, expected_utc, shown
):
    start = datetime(*day, tzinfo=UTC) - timedelta(days=1)
    (first, second) = slots.slot_times(
        [Slot(SUN, 2 * 60 + 30)], zone, start, start + timedelta(days=9)
    )
    assert first == expected_utc
    assert clock(first, zone) == shown
    # A week later 02:30 exists again and the slot is back on it.
    assert clock(second, zone).endswith("02:30 " + shown[-4:].strip())


def test_the_gap_rule_keeps_the_order_of_a_days_slots():
    day_slots = [Slot(SUN, 2 * 60 + 30), Slot(SUN, 3 * 60 + 15)]
    times = slots.slot_times(day_slots, BERLIN, utc(2026, 3, 28), utc(2026, 3, 30))
    assert [clock(t, BERLIN)[-10:] for t in times] == ["03:00 CEST", "03:15 CEST"]


def test_two_slots_meeting_at_the_end_of_the_gap_count_once():
    day_slots = [Slot(SUN, 2 * 60 + 30), Slot(SUN, 3 * 60)]
    times = slots.slot_times(day_slots, LA, utc(2026, 3, 7), utc(2026, 3, 9))
    assert times == [utc(2026, 3, 8, 10)]


@pytest.mark.parametrize(
    ("zone", "naive", "expected"),
    [
        # Clocks go back: 01:30 in LA and 02:30 in Berlin happen twice.
        (LA, "2026-11-01T01:30", utc(2026, 11, 1, 8, 30)),  # PDT
        (BERLIN, "2026-10-25T02:30", utc(2026, 10, 25, 0, 30)),  # CEST
    ],
)
def test_a_time_that_happens_twice_means_the_first_one(zone, naive, expected):
    assert slots.wall_time_to_utc(datetime.fromisoformat(naive), zone) == expected


def test_kolkata_slots_keep_their_half_hour_offset_all_year():
    weekly = [Slot(MON, 9 * 60), Slot(SAT, 11 * 60 + 30)]
    times = slots.slot_times(weekly, KOLKATA, utc(2026, 3, 1), utc(2026, 11, 30))
    assert len(times) == 2 * 39
    for when in times:
        local = when.astimezone(KOLKATA)
        assert local.utcoffset() == timedelta(hours=5, minutes=30)
        assert (local.weekday(), local.strftime("%H:%M")) in {
            (MON, "09:00"),
            (SAT, "11:30"),
        }
    assert times[0] == utc(2026, 3, 2, 3, 30)  # Mon 09:00 IST
    assert times[1] == utc(2026, 3, 7, 6)  # Sat 11:30 IST


@pytest.mark.parametrize("zone", [LA, BERLIN, KOLKATA], ids=str)
def test_every_slot_instant_shows_its_slot_or_the_end_of_a_gap(zone):
    weekly = [Slot(d, m) for d in range(7) for m in (0, 60 + 30, 2 * 60 + 30, 23 * 60)]
    times = slots.slot_times(weekly, zone, utc(2026, 1, 1), utc(2027, 1, 1))
    assert times == sorted(set(times))
    wanted = {(s.weekday, s.clock) for s in weekly}
    for when in times:
        local = when.astimezone(zone)
        if (local.weekday(), local.strftime("%H:%M")) in wanted:
            continue
        # Only a slot in a gap may show another time: the instant the clocks
        # jumped, one minute after which the old offset no longer applies.
        assert (
            local.utcoffset()
            != (when - timedelta(minutes=1)).astimezone(zone).utcoffset()
        ), clock(when, zone)


# -- the free-slot search ---------------------------------------------------------


def test_next_free_slot_skips_slots_taken_within_half_an_hour():
    weekly = [Slot(MON, 9 * 60), Slot(WED, 9 * 60), Slot(FRI, 9 * 60)]
    after, until = utc(2026, 12, 6), utc(2027, 1, 20)  # Sunday
    monday, wednesday = utc(2026, 12, 7, 8), utc(2026, 12, 9, 8)  # 09:00 CET
    assert slots.next_free_slot(weekly, BERLIN, after, until, []) == monday
    near = monday + timedelta(minutes=29)
    assert slots.next_free_slot(weekly, BERLIN, after, until, [near]) == wednesday
    # Exactly 30 minutes apart is no clash.
    apart = monday - timedelta(minutes=30)
    assert slots.next_free_slot(weekly, BERLIN, after, until, [apart]) == monday


def test_next_free_slot_is_strictly_after_the_start():
    weekly = [Slot(MON, 9 * 60)]
    monday = utc(2026, 12, 7, 8)
    found = slots.next_free_slot(weekly, BERLIN, monday, utc(2027, 1, 1), [])
    assert found == monday + timedelta(days=7)


def test_a_full_queue_has_no_free_slot():
    weekly = [Slot(MON, 9 * 60), Slot(SAT, 11 * 60 + 30)]
    after = utc(2026, 12, 1)
    until = after + timedelta(days=50)
    taken = slots.slot_times(weekly, KOLKATA, after, until)
    assert len(taken) == 14
    assert slots.next_free_slot(weekly, KOLKATA, after, until, taken) is None
    # One free slot anywhere is found.
    assert (
        slots.next_free_slot(weekly, KOLKATA, after, until, taken[:5] + taken[6:])
        == taken[5]
    )


def test_no_slots_or_an_empty_window_give_nothing():
    assert slots.next_free_slot([], LA, utc(2026, 1, 1), utc(2026, 3, 1), []) is None
    weekly = [Slot(MON, 9 * 60)]
    assert slots.slot_times(weekly, LA, utc(2026, 3, 1), utc(2026, 3, 1)) == []


# -- one slot later -----------------------------------------------------------------


def test_one_slot_later_moves_each_post_to_the_next_slot_in_order():
    weekly = [Slot(MON, 9 * 60), Slot(WED, 9 * 60), Slot(FRI, 9 * 60)]
    mon, wed, fri = utc(2026, 12, 7, 8), utc(2026, 12, 9, 8), utc(2026, 12, 11, 8)
    next_mon = utc(2026, 12, 14, 8)
    until = utc(2027, 1, 20)
    assert slots.one_slot_later([mon, wed], weekly, BERLIN, until) == [wed, fri]
    assert slots.one_slot_later([mon, wed, fri], weekly, BERLIN, until) == [
        wed,
        fri,
        next_mon,
    ]
    # Posts between slots go to the next free slot after them, never sharing one.
    tue, tue_later = utc(2026, 12, 8, 10), utc(2026, 12, 8, 11)
    assert slots.one_slot_later([tue, tue_later], weekly, BERLIN, until) == [
        wed,
        fri,
    ]


def test_one_slot_later_across_the_berlin_spring_change():
    weekly = [Slot(SUN, 9 * 60)]
    before = utc(2026, 3, 22, 8)  # 09:00 CET
    assert slots.one_slot_later([before], weekly, BERLIN, utc(2026, 5, 1)) == [
        utc(2026, 3, 29, 7)  # 09:00 CEST
    ]


def test_one_slot_later_says_which_posts_have_no_slot_left():
    weekly = [Slot(MON, 9 * 60)]
    mon = utc(2026, 12, 7, 8)
    until = mon + timedelta(days=10)
    assert slots.one_slot_later(
        [mon, mon + timedelta(days=7)], weekly, BERLIN, until
    ) == [
        mon + timedelta(days=7),
        None,
    ]
    assert slots.one_slot_later([], weekly, BERLIN, until) == []


# -- input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "minute"), [("09:00", 540), ("9:05", 545), ("23:59", 1439), ("00:00", 0)]
)
def test_clock_times_parse(typed, minute):
    assert slots.parse_clock(typed) == minute


@pytest.mark.parametrize("typed", ["", None, "24:00", "9", "09:60", "9am", "09:00:00"])
def test_bad_clock_times_say_how_to_type_them(typed):
    with pytest.raises(slots.SlotError, match="HH:MM"):
        slots.parse_clock(typed)


def test_weekdays_parse_and_refuse_nonsense():
    assert slots.parse_weekdays(["4", "0", "4"]) == [0, 4]
    with pytest.raises(slots.SlotError, match="at least one"):
        slots.parse_weekdays([])
    with pytest.raises(slots.SlotError, match="Monday to Sunday"):
        slots.parse_weekdays(["7"])


def test_slots_refuse_impossible_values_and_label_themselves():
    assert Slot(SAT, 11 * 60 + 30).label == "Sat 11:30"
    with pytest.raises(slots.SlotError):
        Slot(7, 0)
    with pytest.raises(slots.SlotError):
        Slot(0, 1440)
