"""The lateness guard's rules: what max_lateness accepts and how a delay reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taqnyat_provider.core.lateness import describe, how_late, read_max_lateness
from taqnyat_provider.exceptions import InvalidInputError


def test_max_lateness_values():
    assert read_max_lateness(None) is None
    assert read_max_lateness(timedelta(minutes=30)) == timedelta(minutes=30)
    assert read_max_lateness(90) == timedelta(seconds=90)


@pytest.mark.parametrize("value", [timedelta(0), timedelta(minutes=-5), -1, True, "30m"])
def test_bad_max_lateness_is_refused(value):
    with pytest.raises(InvalidInputError, match="max_lateness"):
        read_max_lateness(value)


def test_how_late():
    due = datetime(2026, 1, 4, 5, 0, tzinfo=UTC)
    assert how_late(due, due + timedelta(hours=2)) == timedelta(hours=2)
    assert how_late(due, due - timedelta(seconds=1)) == timedelta(seconds=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        how_late(datetime(2026, 1, 4, 5, 0), due)


@pytest.mark.parametrize(
    ("delay", "text"),
    [
        (timedelta(hours=2, minutes=5, seconds=10), "2h 05m 10s"),
        (timedelta(minutes=30), "30m 00s"),
        (timedelta(seconds=4.6), "4s"),
        (timedelta(seconds=-3), "0s"),
    ],
)
def test_describe(delay, text):
    assert describe(delay) == text
