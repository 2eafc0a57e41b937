"""The pure helpers: caption limits, local-time parsing and display, safe redirects."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

import helpers


def test_caption_stats_count_code_points_hashtags_and_mentions():
    stats = helpers.caption_stats("Hi 👋🏽 #one #two a#not @ana @b.c email@x.com ##x")
    assert stats.chars == len("Hi 👋🏽 #one #two a#not @ana @b.c email@x.com ##x")
    assert stats.hashtags == 2
    assert stats.mentions == 2
    assert stats.problems() == []


def test_caption_problems_name_the_counts():
    stats = helpers.caption_stats(" ".join(f"#t{i}" for i in range(31)))
    assert stats.problems() == ["The caption has 31 hashtags; Instagram allows 30."]


@pytest.mark.parametrize(
    ("typed", "tz", "expected"),
    [
        (
            "2026-12-01T09:30",
            "America/Los_Angeles",
            datetime(2026, 12, 1, 17, 30, tzinfo=UTC),
        ),
        ("2026-12-01T09:30", "Asia/Kolkata", datetime(2026, 12, 1, 4, 0, tzinfo=UTC)),
        (
            "2026-07-01T09:30",
            "America/Los_Angeles",
            datetime(2026, 7, 1, 16, 30, tzinfo=UTC),
        ),
        ("2026-12-01T09:30:15", "UTC", datetime(2026, 12, 1, 9, 30, 15, tzinfo=UTC)),
        # 01:30 happens twice on 2026-11-01 in Los Angeles: the first one (PDT).
        (
            "2026-11-01T01:30",
            "America/Los_Angeles",
            datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
        ),
    ],
)
def test_local_times_become_the_right_utc_instant(typed, tz, expected):
    assert helpers.parse_local_datetime(typed, tz) == expected


@pytest.mark.parametrize(
    ("typed", "tz", "message"),
    [
        ("2026-03-08T02:30", "America/Los_Angeles", "does not exist"),
        ("2026-03-29T02:15", "Europe/Paris", "does not exist"),
        ("0001-01-01T00:00", "Europe/Paris", "coming weeks"),
        ("2026-12-01T09:30+01:00", "UTC", "without a time zone"),
        ("noon", "UTC", "Enter a date"),
        ("2026-12-01T09:30", "Nowhere/City", "Unknown time zone"),
    ],
)
def test_impossible_local_times_are_refused(typed, tz, message):
    with pytest.raises(helpers.LocalTimeError, match=message):
        helpers.parse_local_datetime(typed, tz)


def test_times_are_shown_with_the_zone_abbreviation():
    when = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
    assert helpers.format_local(when, "America/Los_Angeles") == "Dec 01, 2026 09:30 PST"
    assert helpers.format_local(when, "Asia/Kolkata") == "Dec 01, 2026 23:00 IST"
    assert helpers.input_value(when, "Asia/Kolkata") == "2026-12-01T23:00"


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/", True),
        ("/post/1/edit?x=1", True),
        ("//evil.example", False),
        ("https://evil.example/", False),
        ("/\\evil.example", False),
        ("javascript:alert(1)", False),
        ("", False),
        (None, False),
    ],
)
def test_only_local_redirects_are_safe(target, safe):
    assert helpers.is_safe_next(target) is safe


def test_timezones_are_validated_against_iana():
    assert helpers.valid_timezone("Asia/Kolkata") == "Asia/Kolkata"
    assert helpers.valid_timezone("Mars/Olympus") is None
    assert helpers.valid_timezone("x" * 100) is None


@pytest.mark.parametrize(
    ("n", "text"),
    [(30 * 1024 * 1024, "30 MB"), (1536 * 1024, "1.5 MB"), (200 * 1024, "200 KB")],
)
def test_file_sizes_read_naturally(n, text):
    assert helpers.file_size(n) == text


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            "@Jane.Doe, chef_marco  studio.lumen",
            ["jane.doe", "chef_marco", "studio.lumen"],
        ),
        ("a,,b\n@a", ["a", "b"]),
        ("  ", []),
    ],
)
def test_usernames_are_read_like_people_type_them(text, names):
    assert helpers.parse_usernames(text) == names


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("jane.doe", True),
        ("a_b.c9", True),
        ("x" * 30, True),
        ("x" * 31, False),
        ("no-dash", False),
        ("space d", False),
        ("", False),
        ("émile", False),
    ],
)
def test_instagram_usernames(name, ok):
    assert helpers.is_username(name) is ok


def test_the_first_comment_is_counted_with_its_own_name():
    stats = helpers.caption_stats("#a " * 31)
    assert stats.problems("first comment") == [
        "The first comment has 31 hashtags; Instagram allows 30."
    ]


@pytest.mark.parametrize(
    ("first", "other", "same"),
    [
        ((1080, 1350), (1440, 1800), True),  # 4:5 at two sizes
        ((1080, 1350), (1080, 1351), True),  # a rounding slip
        ((1080, 1080), (1080, 1350), False),
        ((1440, 754), (1080, 566), True),  # 1.91:1 after a resize
    ],
)
def test_carousel_items_must_share_the_first_ones_shape(first, other, same):
    from ospost import images

    assert images.same_shape(first, other) is same
