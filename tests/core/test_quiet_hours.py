"""Quiet-hours windows: inside or not, when they end, across midnight and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from taqnyat_provider.core.quiet_hours import QuietHours, read_urgent
from taqnyat_provider.exceptions import InvalidInputError

RIYADH = ZoneInfo("Asia/Riyadh")
UTC = UTC


def at(zone: str, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).replace(fold=fold)  # type: ignore[misc]


@pytest.mark.parametrize(
    "window",
    [
        ("22:00", "07:00"),
        ["22:00", "07:00"],
        "22:00-07:00",
        "22:00 – 07:00",
        "22:00 to 07:00",
        (time(22), time(7)),
    ],
)
def test_the_ways_to_write_a_window(window):
    quiet = QuietHours.parse(window, RIYADH)
    assert quiet is not None
    assert (quiet.start, quiet.end, quiet.zone.key) == (time(22), time(7), "Asia/Riyadh")
    assert str(quiet) == "22:00-07:00 Asia/Riyadh"


@pytest.mark.parametrize("window", [None, "", (), []])
def test_no_window(window):
    assert QuietHours.parse(window, RIYADH) is None


@pytest.mark.parametrize(
    ("window", "zone", "named"),
    [
        (("22:00",), "Asia/Riyadh", "a start and an end"),
        (("24:00", "07:00"), "Asia/Riyadh", "start must be a time like"),
        (("22:00", "7"), "Asia/Riyadh", "end must be a time like"),
        (("22:00", "22:00"), "Asia/Riyadh", "starts and ends at 22:00"),
        (22, "Asia/Riyadh", "quiet_hours must be"),
    ],
)
def test_mistakes_are_named(window, zone, named):
    with pytest.raises(InvalidInputError, match=named):
        QuietHours.parse(window, ZoneInfo(zone))


def test_an_overnight_window_in_riyadh():
    quiet = QuietHours.parse(("22:00", "07:00"), RIYADH)
    assert quiet is not None
    # 23:00 Riyadh (20:00 UTC): the window ends at 07:00 the next morning, 04:00 UTC.
    assert quiet.ends_after(at("Asia/Riyadh", 2026, 1, 4, 23, 0)) == datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    # 03:00 Riyadh: the same night's window, ending at 07:00 that day.
    assert quiet.ends_after(at("Asia/Riyadh", 2026, 1, 5, 3, 0)) == datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    # The edges: 22:00 is inside, 07:00 is not; 10:00 and 21:59 are outside.
    assert quiet.ends_after(at("Asia/Riyadh", 2026, 1, 4, 22, 0)) is not None
    for outside in ((7, 0), (10, 0), (21, 59)):
        assert quiet.ends_after(at("Asia/Riyadh", 2026, 1, 4, *outside)) is None
    # The same instant given in another zone is judged on Riyadh's clock.
    assert quiet.ends_after(datetime(2026, 1, 4, 20, 0, tzinfo=UTC)) == datetime(2026, 1, 5, 4, 0, tzinfo=UTC)


def test_a_window_within_one_day():
    quiet = QuietHours.parse("13:00-15:30", ZoneInfo("Europe/London"))
    assert quiet is not None
    assert quiet.ends_after(at("Europe/London", 2026, 1, 4, 14, 0)) == datetime(
        2026, 1, 4, 15, 30, tzinfo=UTC
    )
    assert quiet.ends_after(at("Europe/London", 2026, 1, 4, 12, 59)) is None
    assert quiet.ends_after(at("Europe/London", 2026, 1, 4, 15, 30)) is None


def test_the_window_keeps_the_wall_clock_across_a_dst_change():
    quiet = QuietHours.parse(("22:00", "07:00"), ZoneInfo("Europe/Berlin"))
    assert quiet is not None
    # The night of 2026-03-28/29 has one hour less (02:00 -> 03:00): 07:00 is CEST, 05:00 UTC.
    assert quiet.ends_after(at("Europe/Berlin", 2026, 3, 28, 23, 0)) == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )
    # The night of 2026-10-24/25 has one hour more: 07:00 is CET, 06:00 UTC.
    assert quiet.ends_after(at("Europe/Berlin", 2026, 10, 24, 23, 0)) == datetime(
        2026, 10, 25, 6, 0, tzinfo=UTC
    )
    # 22:30 on the clock is inside on both sides of a change, whatever the UTC offset.
    assert quiet.ends_after(at("Europe/Berlin", 2026, 3, 29, 22, 30)) is not None
    assert quiet.ends_after(at("Europe/Berlin", 2026, 3, 27, 22, 30)) is not None


def test_an_end_that_does_not_exist_ends_after_the_gap():
    # New York skips 02:00-03:00 on 2026-03-08: a window ending at 02:30 ends at 03:00 EDT (07:00 UTC).
    quiet = QuietHours.parse(("22:00", "02:30"), ZoneInfo("America/New_York"))
    assert quiet is not None
    end = quiet.ends_after(at("America/New_York", 2026, 3, 8, 1, 0))
    assert end == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert end.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") == "03:00"
    assert end > at("America/New_York", 2026, 3, 8, 1, 0)


def test_an_end_that_happens_twice_ends_at_the_one_still_ahead():
    # New York repeats 01:00-02:00 on 2026-11-01. Window until 01:30.
    quiet = QuietHours.parse(("22:00", "01:30"), ZoneInfo("America/New_York"))
    assert quiet is not None
    first_pass = at("America/New_York", 2026, 11, 1, 1, 15, fold=0)  # EDT, 05:15 UTC
    second_pass = at("America/New_York", 2026, 11, 1, 1, 15, fold=1)  # EST, 06:15 UTC
    assert quiet.ends_after(first_pass) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert quiet.ends_after(second_pass) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


def test_every_minute_of_a_dst_year_ends_in_the_future_and_outside():
    """Property: for each moment inside, the end is later and is itself outside the window."""
    quiet = QuietHours.parse(("22:00", "02:30"), ZoneInfo("America/New_York"))
    assert quiet is not None
    moment = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)
    while moment < datetime(2026, 3, 9, 12, 0, tzinfo=UTC):
        end = quiet.ends_after(moment)
        if end is not None:
            assert moment < end <= moment + timedelta(hours=5)
            assert quiet.ends_after(end) is None
        moment += timedelta(minutes=7)


def test_a_naive_moment_is_refused():
    quiet = QuietHours.parse(("22:00", "07:00"), RIYADH)
    assert quiet is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        quiet.ends_after(datetime(2026, 1, 4, 23, 0))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (None, False), ("True", True), ("false", False), ("", False), ("1", True)],
)
def test_urgent_as_a_template_renders_it(value, expected):
    assert read_urgent(value) is expected


def test_urgent_nonsense_is_refused():
    with pytest.raises(InvalidInputError, match="urgent"):
        read_urgent("maybe")


def test_a_zone_name_is_refused_at_parse_not_later():
    with pytest.raises(TypeError, match=r"zone must be a tzinfo.*'Asia/Riyadh'"):
        QuietHours.parse(("22:00", "07:00"), "Asia/Riyadh")
