"""
The lateness guard: a scheduled send that starts too long after its run was due is skipped.

A reminder call placed four hours late is wrong, and after a DAG is unpaused (or the scheduler was
down) Airflow starts the run of the last missed slot at once. ``max_lateness`` says how late a
scheduled send may still go out; the operators measure it from the moment the run was due
(:func:`how_late`) and skip later ones before any request. No Airflow and no I/O here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from taqnyat_provider.core.errors import InvalidInputError


def read_max_lateness(value: Any) -> timedelta | None:
    """A positive ``timedelta`` (or a number of seconds); None turns the guard off."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"max_lateness must be a timedelta, got {value!r}")
    if isinstance(value, (int, float)):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta):
        raise InvalidInputError(
            f"max_lateness must be a timedelta, e.g. timedelta(minutes=30), got {value!r}"
        )
    if value <= timedelta(0):
        raise InvalidInputError(f"max_lateness must be positive, got {value}")
    return value


def how_late(due: datetime, now: datetime) -> timedelta:
    """How long after ``due`` it is at ``now`` (negative when early); both timezone-aware."""
    if due.tzinfo is None or now.tzinfo is None:
        raise ValueError("due and now must be timezone-aware")
    return now - due


def describe(delay: timedelta) -> str:
    """``2h 05m 10s``: a delay as a person reads it in a log line."""
    seconds = max(int(delay.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
