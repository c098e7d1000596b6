"""
What an answer means, whatever the endpoint: loose values read as numbers, text and lists, and the verdict.

Taqnyat's bodies are loose: numbers arrive as strings, ``null`` as the string ``"null"``, lists as
JSON text with a trailing comma (``"[966500000000,]"``), and ``"status": 1`` on failures too. So no
single field decides success: the HTTP status, ``statusCode``, ``ResponseStatus`` and ``Error`` are
read together (:func:`raise_for_error`), and a success must show positive evidence
(:func:`require_success_evidence`). The endpoint modules (:mod:`taqnyat_provider.core.endpoints`)
build their parsers from these; bodies are decoded by :mod:`~taqnyat_provider.core.loose_json`. Every
function raises only ``TaqnyatApiError`` or ``TaqnyatResponseError``, in time linear in the body's
length, which is at most ``MAX_BODY_BYTES`` (see the fuzz tests).
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from taqnyat_provider.core.errors import TaqnyatResponseError, api_error
from taqnyat_provider.core.loose_json import body_text, decode_text, excerpt

_NULL_STRINGS = frozenset({"", "null", "none", "nil", "undefined"})
_SUCCESS_WORDS = frozenset({"success", "succeeded", "ok", "sent"})
_FAILURE_WORDS = frozenset({"fail", "failed", "failure", "error"})
_NOT_ASCII_DIGITS = re.compile(r"[^0-9]+")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+(\.0*)?")
_MAX_NUMBER_CHARS = 64
"""A longer text is no status code, error code, cost or balance (and ``int()`` of it is slow)."""


# --------------------------------------------------------------------------------------------------
# Loose value readers


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULL_STRINGS)


def as_int(value: Any) -> int | None:
    if is_null(value) or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= _MAX_NUMBER_CHARS and _INTEGER_TEXT.fullmatch(text):
            return int(text.split(".")[0])
    return None


def as_decimal(value: Any) -> Decimal | None:
    if is_null(value) or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        text = str(value).strip() if not isinstance(value, int) or abs(value) < 10**_MAX_NUMBER_CHARS else ""
        if not text or len(text) > _MAX_NUMBER_CHARS:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def as_text(value: Any) -> str | None:
    if is_null(value):
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    return None


def as_number_list(value: Any) -> list[str]:
    """
    Read a list of phone numbers however it is written.

    Accepts a real list, JSON text of a list, the trailing-comma form ``"[966500000000,]"``, a bare
    comma-separated string, a single number, or any null form (which gives an empty list).
    """
    if is_null(value) or isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        text = as_text(value)
        return [text] if text else []
    if isinstance(value, str) and "\\" in value and value.strip().startswith("["):
        # JSON text with escapes ("\u0669..."): only json can read those. Without a backslash the
        # split below reads the same numbers, and the trailing-comma form that json refuses.
        with contextlib.suppress(ValueError, RecursionError):
            value = json.loads(value)
    if isinstance(value, str):
        # Quotes go at once and the items are stripped by map: a long list costs C loops, not Python.
        text = value.strip().strip("[]").replace('"', "").replace("'", "")
        items = list(filter(None, map(str.strip, text.split(","))))
        if "".join(items).isdigit():
            return items
        return [item for item in items if item.lower() not in _NULL_STRINGS]
    if not isinstance(value, (list, tuple)):
        return []
    numbers = []
    for item in value:
        text = as_text(item.strip().strip("\"'") if isinstance(item, str) else item)
        if text:
            numbers.append(text)
    return numbers


class Fields:
    """
    A JSON object whose keys are read whatever their case (``messageId``/``MessageId``).

    The case-folded index is built once, on the first name not found as written: a parser asks for
    some twenty names, and a body may hold many thousand keys.
    """

    __slots__ = ("_lowered", "mapping")

    def __init__(self, value: Any):
        self.mapping: Mapping[Any, Any] = value if type(value) is dict or isinstance(value, Mapping) else {}
        self._lowered: dict[str, Any] | None = None

    def get(self, *names: str) -> Any:
        mapping = self.mapping
        for name in names:
            if name in mapping:
                return mapping[name]
        lowered = self._lowered
        if lowered is None:
            lowered = self._lowered = {}
            for key, value in mapping.items():
                lowered.setdefault(str(key).lower(), value)
        for name in names:
            folded = _FOLDED_NAMES.get(name)
            if folded is None:  # the names are this module's literals: the cache stays small
                folded = _FOLDED_NAMES[name] = name.lower()
            if folded in lowered:
                return lowered[folded]
        return None


_FOLDED_NAMES: dict[str, str] = {}


def number_key(number: str) -> str:
    """
    The digits that identify a phone number in an answer: ``+9665…``, ``009665…`` and ``966 5…`` are one.

    Any Unicode decimal digit counts as its ASCII digit; everything else is dropped, then a leading
    ``00`` (the international prefix). No ``phonenumbers`` here: the numbers sent are already in
    international digits, and this only has to match the API's spelling of them.
    """
    if number.isascii():
        digits = number if number.isdigit() else _NOT_ASCII_DIGITS.sub("", number)
    else:
        digits = "".join(str(unicodedata.decimal(char)) for char in number if char.isdecimal())
    return digits[2:] if digits.startswith("00") else digits


def number_keys(numbers: list[str]) -> list[str]:
    """``number_key`` of each number (or the number, when it has no digit), plain digit lists at once."""
    joined = "," + ",".join(numbers)
    if joined.isascii():
        # bytes.isdigit is a plain ASCII loop, many times faster than str.isdigit's Unicode lookups.
        data = joined.encode()
        if data.replace(b",", b"").isdigit() and b",00" not in data:
            return numbers  # already international ASCII digits, as Taqnyat writes them
    return [number_key(number) or number for number in numbers]


# What follows ``ErrorCode`` in a body too broken to decode: its value, in ASCII digits, and not the
# start of a longer number.
_ERROR_CODE_VALUE = re.compile(r'"?\s*:\s*"?([0-9]{1,4})(?![0-9])')


def _error_code_in_text(text: str) -> int | None:
    """
    The first ``ErrorCode`` value written in a text, or None.

    ``str.find`` jumps from one occurrence of the name to the next and the pattern is matched only
    there, so a long body costs one scan (a search for an optional quote would try every position).
    """
    start = text.find("ErrorCode")
    while start != -1:
        found = _ERROR_CODE_VALUE.match(text, start + len("ErrorCode"))
        if found:
            return int(found.group(1))
        start = text.find("ErrorCode", start + 1)
    return None


def decode_answer(http_status: int, body: str | bytes | None) -> dict[str, Any]:
    """
    Decode a body; when it cannot be decoded, still say what a client error means.

    A body too broken to decode (the reference's own example for code 102 is) still carries its
    error code, found in the text; and a 4xx is an error whatever its body (401: invalid token).
    """
    try:
        text = body_text(body, http_status)
    except TaqnyatResponseError:
        if 400 <= http_status < 500:
            raise api_error(None, None, http_status=http_status) from None
        raise
    try:
        return decode_text(text, http_status)
    except TaqnyatResponseError as error:
        code = _error_code_in_text(text)
        if code is None and not 400 <= http_status < 500:
            raise
        raise api_error(code, error.body_excerpt or None, http_status=http_status) from None


def body_excerpt(body: Mapping[str, Any]) -> str:
    try:
        return excerpt(json.dumps(body))
    except (ValueError, TypeError, RecursionError):  # nested deeper than the encoder goes
        return excerpt(repr(type(body)))


# --------------------------------------------------------------------------------------------------
# Outcome


def raise_for_error(http_status: int, body: Mapping[str, Any] | None) -> None:
    """Raise the matching TaqnyatApiError when the status or the body says the request failed."""
    verdict(http_status, Fields(body))


def verdict(http_status: int, fields: Fields) -> tuple[int | None, str]:
    """:func:`raise_for_error` on fields already wrapped; returns ``statusCode`` and ``ResponseStatus``."""
    error = fields.get("Error", "error")
    error_code = None
    message_en = message_ar = None
    if isinstance(error, Mapping):
        error_fields = Fields(error)
        error_code = as_int(error_fields.get("ErrorCode", "code"))
        message_en = as_text(error_fields.get("MessageEn", "message"))
        message_ar = as_text(error_fields.get("MessageAr"))
    elif isinstance(error, str) and not is_null(error):
        message_en = error.strip()
    body_status = as_int(fields.get("statusCode"))
    response_status = (as_text(fields.get("ResponseStatus")) or "").lower()
    message_en = message_en or as_text(fields.get("message", "MessageEn"))
    message_ar = message_ar or as_text(fields.get("MessageAr"))
    # The server's words go into the exception and the task log: a short excerpt, not a megabyte.
    message_en = excerpt(message_en) if message_en else None
    message_ar = excerpt(message_ar) if message_ar else None

    failed = (
        error_code is not None
        or response_status in _FAILURE_WORDS
        or (body_status is not None and body_status >= 400)
        or http_status >= 400
    )
    if not failed:
        return body_status, response_status
    effective_status = http_status if http_status >= 400 else body_status
    if effective_status is not None and effective_status >= 500 and error_code is None:
        raise TaqnyatResponseError(
            "Server error", http_status=effective_status, body_excerpt=message_en or ""
        )
    raise api_error(error_code, message_en, message_ar, http_status=effective_status or http_status)


def require_success_evidence(
    http_status: int, fields: Fields, *evidence_keys: str, outcome: tuple[int | None, str] | None = None
) -> None:
    """``outcome``: ``statusCode`` and ``ResponseStatus`` as :func:`verdict` read them."""
    if outcome is None:
        outcome = as_int(fields.get("statusCode")), (as_text(fields.get("ResponseStatus")) or "").lower()
    body_status, response_status = outcome
    has_evidence = (
        response_status in _SUCCESS_WORDS
        or body_status in (200, 201)
        or any(not is_null(fields.get(key)) for key in evidence_keys)
    )
    if not (200 <= http_status < 300 and has_evidence):
        raise TaqnyatResponseError(
            "Response shows no sign of success",
            http_status=http_status,
            body_excerpt=body_excerpt(fields.mapping),
        )
