"""
Quiet hours: a daily window of wall-clock time in a named time zone when nobody should be called.

``QuietHours.parse(("22:00", "07:00"), ZoneInfo("Asia/Riyadh"))`` is the window from 22:00 to 07:00 the next
morning, Riyadh time; :meth:`QuietHours.ends_after` says, for a moment, when the window that holds
it ends (or None when the moment is outside every window). The send operators defer until then.

Wall-clock time, not a fixed offset: a window in a zone with daylight saving time stays 22:00 to
07:00 on the clock across the change (:mod:`zoneinfo`). An end time that does not exist on a
spring-forward day (02:30 when clocks jump from 02:00 to 03:00) ends the window at the first moment
after the gap; one that happens twice on a fall-back day ends it at the first of the two that is
still ahead. The zone comes resolved (the operator reads its IANA name through :mod:`zoneinfo`):
the core reads no time-zone database. No Airflow and no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from taqnyat_provider.core.errors import InvalidInputError

DEFAULT_TIMEZONE = "Asia/Riyadh"
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_SEPARATORS = re.compile(r"\s*(?:-|–|—|to|,)\s*")


def _clock_time(value: Any, which: str) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise InvalidInputError(
                f"quiet_hours {which} must be a wall-clock time without a zone, got {value}"
            )
        return value.replace(second=0, microsecond=0)
    match = _CLOCK.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise InvalidInputError(
            f"quiet_hours {which} must be a time like '22:00' (24-hour HH:MM), got {value!r}"
        )
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class QuietHours:
    """From ``start`` to ``end`` every day in ``zone``; the window runs past midnight when ``end < start``."""

    start: time
    end: time
    zone: tzinfo

    @classmethod
    def parse(cls, window: Any, zone: tzinfo) -> QuietHours | None:
        """
        ``("22:00", "07:00")``, ``["22:00", "07:00"]`` or ``"22:00-07:00"``; None (or empty) is no window.

        Refused with an ``InvalidInputError``: anything else, and a window that starts when it ends
        (which would be either nothing or the whole day).
        """
        if not isinstance(zone, tzinfo):  # a name is read by the operator (it reads a database)
            raise TypeError(f"zone must be a tzinfo such as ZoneInfo('Asia/Riyadh'), got {zone!r}")
        if window is None or (isinstance(window, (str, Sequence)) and len(window) == 0):
            return None
        if isinstance(window, str):
            parts: Sequence[Any] = _SEPARATORS.split(window.strip())
        elif isinstance(window, Sequence):
            parts = window
        else:
            raise InvalidInputError(
                f"quiet_hours must be ('22:00', '07:00') or '22:00-07:00', got {window!r}"
            )
        if len(parts) != 2:
            raise InvalidInputError(
                f"quiet_hours must be a start and an end, like ('22:00', '07:00'), got {window!r}"
            )
        start, end = _clock_time(parts[0], "start"), _clock_time(parts[1], "end")
        if start == end:
            raise InvalidInputError(
                f"quiet_hours starts and ends at {start:%H:%M}: give a window, e.g. 22:00-07:00"
            )
        return cls(start, end, zone)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {getattr(self.zone, 'key', None) or self.zone}"

    def _contains(self, clock: time) -> bool:
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def _readings(self, day: date) -> list[datetime]:
        """The instants (UTC) when the clock in ``zone`` reads ``end`` on ``day``: one, two, or the gap's end."""
        wall = datetime.combine(day, self.end)
        readings = []
        for fold in (0, 1):  # a repeated hour is read twice
            instant = wall.replace(tzinfo=self.zone, fold=fold).astimezone(UTC)
            if instant.astimezone(self.zone).replace(tzinfo=None) == wall and instant not in readings:
                readings.append(instant)
        if readings:
            return readings
        # The clock skips ``end`` (spring forward): the first instant it reads later than ``end``,
        # found by halving the hour or so between the two readings of the skipped time.
        lo, hi = sorted(int(wall.replace(tzinfo=self.zone, fold=fold).timestamp()) for fold in (0, 1))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.zone).replace(tzinfo=None) >= wall:
                hi = mid
            else:
                lo = mid
        return [datetime.fromtimestamp(hi, UTC)]

    def _end_on(self, day: date, after: datetime) -> datetime | None:
        """The first instant later than ``after`` when the clock in ``zone`` reads ``end`` on ``day``."""
        return next((instant for instant in self._readings(day) if instant > after), None)

    def ends_after(self, moment: datetime) -> datetime | None:
        """
        When the quiet window holding ``moment`` ends (UTC), or None if ``moment`` is outside it.

        ``moment`` must be timezone-aware; what counts is the wall clock in ``zone`` at that moment.
        """
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        now = moment.astimezone(UTC)
        local = now.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if not self._contains(clock):
            return None
        # The window ends on the day of ``moment`` if its end is still ahead on the clock, else the next day.
        day = local.date() if clock < self.end else local.date() + timedelta(days=1)
        return self._end_on(day, now) or self._end_on(day + timedelta(days=1), now)


def read_urgent(value: Any) -> bool:
    """``urgent`` as given, or as a template renders it (``"True"``, ``"false"``, ``""``)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "", "none"):
        return False
    raise InvalidInputError(f"urgent must be true or false, got {value!r}")
