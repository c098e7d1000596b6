"""
SMS rules that hold before any request: the body and its segments, the sender name, the schedule.

No I/O and no Airflow here. Segment counting follows GSM 03.38: a body written only in the GSM
7-bit alphabet fits 160 characters in one SMS and 153 per part when split (an extension character
such as ``€`` or ``{`` takes two); anything else (Arabic, emoji) is sent as UCS-2, 70 UTF-16 units
in one SMS and 67 per part.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from taqnyat_provider.core.errors import InvalidInputError

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

MAX_SEGMENTS = 10
"""The longest body this provider sends; a longer one is almost always a templating mistake."""

API_TIMEZONE = timezone(timedelta(hours=3), "Asia/Riyadh")
"""Taqnyat reads ``scheduledDatetime`` as Saudi local time (UTC+3 all year: no daylight saving)."""
API_SCHEDULE_FORMAT = "%Y-%m-%dT%H:%M"

MAX_SENDER_LENGTH = 11
_SENDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .&_\-]*")
_BODY_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DELETE_ID = re.compile(r"[1-9][0-9]{0,17}")


@dataclass(frozen=True)
class SmsLength:
    """How a body travels: its encoding, its length in that encoding's units and its segment count."""

    characters: int
    encoding: str
    units: int
    segments: int


def _segments(weights: list[int], single: int, part: int) -> int:
    """Parts needed when no character may be split across two parts (escape pairs, surrogates)."""
    if sum(weights) <= single:
        return 1
    segments, used = 1, 0
    for weight in weights:
        if used + weight > part:
            segments, used = segments + 1, 0
        used += weight
    return segments


def measure_sms(body: str) -> SmsLength:
    """The encoding and segment count of ``body``, as the network will bill it."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body):
        weights = [2 if char in GSM7_EXTENSION else 1 for char in body]
        return SmsLength(len(body), "GSM-7", sum(weights), _segments(weights, 160, 153))
    weights = [2 if ord(char) > 0xFFFF else 1 for char in body]
    return SmsLength(len(body), "UCS-2", sum(weights), _segments(weights, 70, 67))


def check_body(value: Any) -> str:
    """A non-empty text that fits ``MAX_SEGMENTS`` SMS parts and has no control characters but new lines."""
    if value is None:
        raise InvalidInputError("SMS body is None; did a template render to nothing?")
    if not isinstance(value, str):
        raise InvalidInputError(f"SMS body must be text, got {type(value).__name__}: {value!r:.100}")
    if not value.strip():
        raise InvalidInputError("SMS body is empty")
    found = _BODY_CONTROL_CHARS.search(value)
    if found:
        raise InvalidInputError(
            f"SMS body contains the control character {found.group()!r} at position {found.start()}"
        )
    length = measure_sms(value)
    if length.segments > MAX_SEGMENTS:
        raise InvalidInputError(
            f"SMS body is {length.characters} characters ({length.encoding}), {length.segments} SMS parts; "
            f"the most this provider sends is {MAX_SEGMENTS}. Body starts: {value[:60]!r}"
        )
    return value


def check_sender(value: Any) -> str:
    """A sender name as registered with Taqnyat: up to 11 letters, digits and ``. & _ -`` or spaces."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInputError(
            "No sender: pass sender to the task or set the 'sender' extra on the connection"
        )
    if not isinstance(value, str):
        raise InvalidInputError(f"sender must be text, got {type(value).__name__}: {value!r:.100}")
    sender = value.strip()
    if not _SENDER.fullmatch(sender) or len(sender) > MAX_SENDER_LENGTH:
        raise InvalidInputError(
            f"Invalid sender {value!r:.100}: a sender name is 1 to {MAX_SENDER_LENGTH} characters of "
            "Latin letters, digits, spaces and . & _ -, as registered in Taqnyat's dashboard"
        )
    return sender


def _parse_schedule(value: Any) -> datetime:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise InvalidInputError(
                f"scheduled_at {value!r:.100} is not an ISO 8601 date and time, "
                "e.g. '2026-11-28T09:30:00+03:00'"
            ) from None
    else:
        raise InvalidInputError(
            f"scheduled_at must be a timezone-aware datetime or ISO 8601 text, got {value!r:.100}"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInputError(
            f"scheduled_at {value!s:.100} has no timezone; give one (e.g. '+03:00' or 'Z') so the "
            "message is not sent hours early or late"
        )
    return when


def schedule_for_api(value: Any, now: datetime | None = None) -> str:
    """
    The API's ``scheduledDatetime`` for an aware datetime or ISO text: Saudi local time to the minute.

    Seconds are rounded up to the next minute, so a message never goes out before the time asked.
    """
    when = _parse_schedule(value)
    if when.second or when.microsecond:
        when = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
    now = now or datetime.now(UTC)
    if when <= now:
        raise InvalidInputError(
            f"scheduled_at {value!s:.100} is not in the future (now is {now.isoformat(timespec='seconds')})"
        )
    return when.astimezone(API_TIMEZONE).strftime(API_SCHEDULE_FORMAT)


def check_delete_id(value: Any) -> int:
    """A ``deleteId``: a positive whole number of up to 18 digits, given as int or text."""
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not _DELETE_ID.fullmatch(text):
        raise InvalidInputError(f"delete_id must be a positive whole number, got {value!r:.100}")
    return int(text)


def new_delete_id() -> int:
    """A fresh ``deleteId`` for a scheduled send, so that a later task can cancel it."""
    return 10**11 + secrets.randbelow(9 * 10**11)
