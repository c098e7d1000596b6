"""
Turning Taqnyat's HTTP answers into typed results or the provider's own errors.

Taqnyat's bodies are loose: numbers arrive as strings, ``null`` as the string ``"null"``, lists as
JSON text with a trailing comma (``"[966500000000,]"``), and ``"status": 1`` on failures too. So no
single field decides success: the HTTP status, ``statusCode``, ``ResponseStatus`` and ``Error`` are
read together, and a success must show positive evidence. No I/O and no Airflow here; every function
raises only ``TaqnyatApiError`` or ``TaqnyatResponseError``, and runs in time linear in the body's
length, which is at most ``MAX_BODY_BYTES`` (see the fuzz tests).
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import chain
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from taqnyat_provider.exceptions import TaqnyatApiError, TaqnyatResponseError, api_error

_NULL_STRINGS = frozenset({"", "null", "none", "nil", "undefined"})
_SUCCESS_WORDS = frozenset({"success", "succeeded", "ok", "sent"})
_FAILURE_WORDS = frozenset({"fail", "failed", "failure", "error"})
_EXCERPT_CHARS = 200
_NOT_ASCII_DIGITS = re.compile(r"[^0-9]+")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+(\.0*)?")
_MAX_NUMBER_CHARS = 64
"""A longer text is no status code, error code, cost or balance (and ``int()`` of it is slow)."""

MAX_BODY_BYTES = 1024 * 1024
"""
The longest answer body read or parsed, in bytes (1 MiB).

Taqnyat's answers are a few KB; the hooks stop reading past this and ``decode_body`` refuses a
longer body with ``TaqnyatResponseError``, so a hostile or broken server cannot hold a worker or the
triggerer's event loop.
"""


@dataclass(frozen=True)
class SystemStatus:
    operational: bool
    service: str | None
    description: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"operational": self.operational, "service": self.service, "description": self.description}


@dataclass(frozen=True)
class SendResult:
    """One accepted send (a voice call batch or an SMS batch)."""

    message_id: str | None
    accepted: list[str]
    rejected: list[str]
    cost: Decimal | None
    currency: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Sender:
    """A sender name of the account and its status (``active``, ``pending``, ...)."""

    name: str
    status: str | None

    @property
    def active(self) -> bool:
        return (self.status or "").lower() == "active"


@dataclass(frozen=True)
class Acknowledgement:
    """A plain "done" answer, such as the one to deleting a scheduled SMS."""

    message: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Balance:
    balance: Decimal
    currency: str | None
    account_status: str | None
    expiry_date: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


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


class _Fields:
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


def _number_key(number: str) -> str:
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


def _number_keys(numbers: list[str]) -> list[str]:
    """``_number_key`` of each number (or the number, when it has no digit), plain digit lists at once."""
    joined = "," + ",".join(numbers)
    if joined.isascii():
        # bytes.isdigit is a plain ASCII loop, many times faster than str.isdigit's Unicode lookups.
        data = joined.encode()
        if data.replace(b",", b"").isdigit() and b",00" not in data:
            return numbers  # already international ASCII digits, as Taqnyat writes them
    return [_number_key(number) or number for number in numbers]


# --------------------------------------------------------------------------------------------------
# Body decoding
#
# Every step below is linear in the body's length: an answer is read by whoever sends it (a worker
# after a POST, the triggerer's event loop), so a long or hostile body must not hold either. The
# loose-JSON reader runs only when ``json.loads`` has failed, scans each character once (one regular
# expression per token, each of which cannot backtrack over more than its own token) and gives up at
# the first thing that is not loose JSON.

# One token of loose JSON but a string, matched at the reader's position only, after its whitespace.
# A number must not run on into letters or digits (``5452abc``): the reader then gives up rather than
# guess. Strings are scanned by ``json``'s own C scanner, which cannot backtrack.
_SPACE = re.compile(r"\s*")
_COLON = re.compile(r"\s*:")
_BARE_TOKEN = re.compile(
    r"""
      (?P<punct>[{}\[\],])
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_.\-]))
    | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
    """,
    re.VERBOSE,
)
_LITERALS = frozenset({"true", "false", "null"})
_LENIENT_JSON = json.JSONDecoder(strict=False)
"""``json.loads(text, strict=False)`` without building a decoder and its scanner for every answer."""
MAX_DEPTH = 64
"""
Deeper than any answer Taqnyat gives; a body nested further is refused, JSON or loose. Without a limit
of its own the outcome would depend on the Python: 3.11's C scanner gives up near 1,000 levels, 3.13's
reads 5,000 and more.
"""
_TOO_DEEP = object()
"""What the loose reader returns for a body nested deeper than ``MAX_DEPTH``."""


MAX_LOOSE_TOKENS = 10_000
"""
The most tokens read as loose JSON. Each costs about a microsecond of Python (the regular expression
runs in C, whatever the token's length: a long string is one token), so a hostile body stops within
about ten milliseconds. The reference's loose examples have some forty tokens, and a 1,000-number
answer has its lists as strings (one token each) or, as real arrays, some 2,000.
"""

# What the loose reader expects next.
_KEY, _VALUE, _AFTER_VALUE, _DONE = range(4)


def _read_loose_json(text: str) -> Any:
    """
    Read what Taqnyat's documented examples show, or return None.

    Mends bare keys and bare words (``ResponseStatus: success``), trailing commas, a missing
    opening brace and missing closers, by rewriting the tokens as JSON; anything else (two values in
    a row, a stray closer, a number running into letters, more than ``MAX_LOOSE_TOKENS`` tokens)
    gives None, and nesting deeper than ``MAX_DEPTH`` gives ``_TOO_DEEP``.
    """
    out: list[str] = []
    closers: list[str] = []  # the closer each open container needs, innermost last
    expect = _VALUE
    pending_comma = False  # a comma is written only once something follows it: trailing ones vanish
    text = text.strip()
    position, end = 0, len(text)
    tokens = 0
    while position < end:
        tokens += 1
        if tokens > MAX_LOOSE_TOKENS:
            return None
        space = _SPACE.match(text, position)
        position = space.end() if space else position
        if text.startswith('"', position):
            try:
                string_end = scanstring(text, position + 1, False)[1]
            except ValueError:  # unterminated, or a bad escape
                return None
            kind, value = "string", text[position:string_end]
            position = string_end
        else:
            token = _BARE_TOKEN.match(text, position)
            if token is None:
                return None
            kind, value = token.lastgroup or "", token.group()
            position = token.end()
        if kind in ("string", "word"):
            colon = _COLON.match(text, position)
            if colon:
                kind, position = "key", colon.end()
        if expect == _DONE:
            return None
        if not out:
            if value not in ("{", "[") and kind != "key":
                return None  # not an object, nor the inside of one
            if kind == "key":
                # The examples start inside the object, at its first key.
                out.append("{")
                closers.append("}")
                expect = _KEY
        if value in ("}", "]"):
            # A closer may end a container after a value, after a trailing comma, or when empty.
            empty = bool(out) and out[-1] in ("{", "[")
            if not closers or closers[-1] != value or not (expect == _AFTER_VALUE or pending_comma or empty):
                return None
            out.append(closers.pop())
            pending_comma = False
            expect = _AFTER_VALUE if closers else _DONE
            continue
        if value == ",":
            if expect != _AFTER_VALUE:
                return None
            pending_comma = True
            expect = _KEY if closers[-1] == "}" else _VALUE
            continue
        if pending_comma:
            out.append(",")
            pending_comma = False
        if expect == _KEY and kind == "key":
            out.append(value if value.startswith('"') else f'"{value}"')
            out.append(":")
            expect = _VALUE
        elif expect == _VALUE and kind != "key":
            if value in ("{", "["):
                if len(closers) >= MAX_DEPTH:
                    return _TOO_DEEP
                out.append(value)
                closers.append("}" if value == "{" else "]")
                expect = _KEY if value == "{" else _VALUE
            else:
                out.append(f'"{value}"' if kind == "word" and value not in _LITERALS else value)
                expect = _AFTER_VALUE
        else:
            return None
    if out and out[-1] == ":":
        return None
    out.extend(reversed(closers))
    try:
        return _LENIENT_JSON.decode("".join(out))
    except (ValueError, RecursionError):
        return None


def _body_text(body: str | bytes | None, http_status: int | None) -> str:
    """
    The body as text, refusing one longer than ``MAX_BODY_BYTES``.

    Bytes are read as UTF-8 with ``errors="replace"``: a body that is not UTF-8 becomes text with
    U+FFFD in place of the bad bytes (and then fails as JSON if it matters), never a
    ``UnicodeDecodeError``.
    """
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        size = len(data)
        text = None
    elif isinstance(body, str):
        text = body
        # A character is one to four bytes: only a long text needs encoding to be measured.
        size = len(text) if len(text) * 4 <= MAX_BODY_BYTES else len(text.encode("utf-8", "surrogatepass"))
    else:
        raise TaqnyatResponseError(
            f"Response body is a {type(body).__name__}, not text or bytes", http_status=http_status
        )
    if size > MAX_BODY_BYTES:
        raise TaqnyatResponseError(
            f"Response body is longer than the {MAX_BODY_BYTES} bytes this provider reads",
            http_status=http_status,
        )
    return text if text is not None else data.decode("utf-8", errors="replace")


def _nested_deeper_than(value: Any, limit: int, text: str) -> bool:
    """
    Whether decoded JSON nests containers more than ``limit`` deep.

    Depth cannot pass the number of opening brackets in the text (counted in C, strings included, so
    an overestimate): a normal answer has a handful and is never walked. The walk goes a level at a
    time, at most ``limit`` levels, each level one comprehension over the one before (no recursion
    to run out of; a megabyte of small objects takes tens of milliseconds, not a Python loop each).
    """
    if not isinstance(value, (dict, list)) or text.count("[") + text.count("{") <= limit:
        return False
    level: list[Any] = [value]
    for _ in range(limit):
        contents = chain.from_iterable(
            container.values() if isinstance(container, dict) else container for container in level
        )
        level = [child for child in contents if isinstance(child, (dict, list))]
        if not level:
            return False
    return True


def _decode_text(text: str, http_status: int | None) -> dict[str, Any]:
    text = text.strip().lstrip("\ufeff").strip()
    if not text:
        raise TaqnyatResponseError("Empty response body", http_status=http_status)
    if text.startswith("<"):
        raise TaqnyatResponseError(
            "HTML page instead of JSON", http_status=http_status, body_excerpt=excerpt(text)
        )
    try:
        decoded = _LENIENT_JSON.decode(text)
        too_deep = _nested_deeper_than(decoded, MAX_DEPTH, text)
    except RecursionError:  # deeper than this Python's scanner goes
        decoded, too_deep = None, True
    except ValueError:
        # Only a body that is not JSON is read as loose JSON: valid JSON is taken as it is.
        decoded = _read_loose_json(text)
        too_deep = decoded is _TOO_DEEP
    if too_deep:
        raise TaqnyatResponseError(
            f"Response is nested deeper than {MAX_DEPTH} levels",
            http_status=http_status,
            body_excerpt=excerpt(text),
        )
    if isinstance(decoded, dict):
        return decoded
    raise TaqnyatResponseError(
        "Response is not a JSON object", http_status=http_status, body_excerpt=excerpt(text)
    )


def decode_body(body: str | bytes | None, *, http_status: int | None = None) -> dict[str, Any]:
    """
    Decode a body into a JSON object, mending loose JSON; raise TaqnyatResponseError otherwise.

    A body longer than ``MAX_BODY_BYTES`` is refused unread; bytes that are not UTF-8 are replaced.
    """
    return _decode_text(_body_text(body, http_status), http_status)


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
        text = _body_text(body, http_status)
    except TaqnyatResponseError:
        if 400 <= http_status < 500:
            raise api_error(None, None, http_status=http_status) from None
        raise
    try:
        return _decode_text(text, http_status)
    except TaqnyatResponseError as error:
        code = _error_code_in_text(text)
        if code is None and not 400 <= http_status < 500:
            raise
        raise api_error(code, error.body_excerpt or None, http_status=http_status) from None


def excerpt(text: str) -> str:
    """At most 200 characters of a text, whitespace folded: enough to recognise an answer in a log."""
    # Only the start is folded, so a megabyte of whitespace costs no more than a short text.
    window = text[: _EXCERPT_CHARS * 8]
    flat = " ".join(window.split())
    if len(flat) <= _EXCERPT_CHARS and len(window) == len(text):
        return flat
    return flat[:_EXCERPT_CHARS] + "…"


def _body_excerpt(body: Mapping[str, Any]) -> str:
    try:
        return excerpt(json.dumps(body))
    except (ValueError, TypeError, RecursionError):  # nested deeper than the encoder goes
        return excerpt(repr(type(body)))


# --------------------------------------------------------------------------------------------------
# Outcome


def raise_for_error(http_status: int, body: Mapping[str, Any] | None) -> None:
    """Raise the matching TaqnyatApiError when the status or the body says the request failed."""
    _raise_for_error(http_status, _Fields(body))


def _raise_for_error(http_status: int, fields: _Fields) -> tuple[int | None, str]:
    """:func:`raise_for_error` on fields already wrapped; returns ``statusCode`` and ``ResponseStatus``."""
    error = fields.get("Error", "error")
    error_code = None
    message_en = message_ar = None
    if isinstance(error, Mapping):
        error_fields = _Fields(error)
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


def _require_success_evidence(
    http_status: int, fields: _Fields, *evidence_keys: str, outcome: tuple[int | None, str] | None = None
) -> None:
    """``outcome``: ``statusCode`` and ``ResponseStatus`` as :func:`_raise_for_error` read them."""
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
            body_excerpt=_body_excerpt(fields.mapping),
        )


def parse_system_status(http_status: int, body_text: str | bytes | None) -> SystemStatus:
    """
    Read ``GET /system/status/``.

    Operational only when HTTP and ``statusCode`` agree on 200, the affected service is "none" and
    the description does not speak of trouble.
    """
    body = decode_answer(http_status, body_text)
    fields = _Fields(body)
    outcome = _raise_for_error(http_status, fields)
    status_value = fields.get("status")
    if not isinstance(status_value, Mapping):
        raise TaqnyatResponseError(
            "Status response has no 'status' object",
            http_status=http_status,
            body_excerpt=_body_excerpt(body),
        )
    _require_success_evidence(http_status, fields, outcome=outcome)
    status = _Fields(status_value)
    service_value = status.get("service")
    # "none" is the API's word for "no service affected", not a null: keep it as said.
    service = service_value.strip() if isinstance(service_value, str) and service_value.strip() else None
    description = as_text(status.get("description"))
    body_status = outcome[0]
    text = (description or "").lower()
    troubled = any(
        word in text for word in ("not operational", "non-operational", "degraded", "outage", "down")
    )
    operational = (
        http_status == 200
        and body_status in (None, 200)
        and (service is None or service.lower() in ("none", "null"))
        and not troubled
    )
    return SystemStatus(operational=operational, service=service, description=description, raw=dict(body))


def parse_send_response(
    http_status: int, body_text: str | bytes | None, recipients: Iterable[str]
) -> SendResult:
    """
    Read the answer to a voice or SMS send.

    ``accepted`` comes from the body when it lists it; otherwise it is every recipient that the body
    does not list as rejected (the voice API only reports ``rejectedNumber``). Numbers are matched
    by their digits, however the API writes them (``+9665…``, ``009665…``, with spaces), and are
    reported as they were sent; a number listed as rejected is never also accepted.

    A 2xx whose body also reports a failure (an error code, even 0, in a body readable or not; a
    failed ``ResponseStatus``; a ``statusCode`` of 400 or more) contradicts itself: the send may
    have gone out, so it is a ``TaqnyatResponseError`` (the delivery engine's "unknown"), never a
    refusal, whose remedy (top up, clear) would send it again.
    """
    try:
        body = decode_answer(http_status, body_text)
        fields = _Fields(body)
        outcome = _raise_for_error(http_status, fields)
    except TaqnyatApiError as error:
        if not 200 <= http_status < 300:
            raise
        reported = f"error {error.code}" if error.code is not None else "a failure"
        raise TaqnyatResponseError(
            f"Contradictory answer: the HTTP status accepts the send but the body reports {reported}",
            http_status=http_status,
            body_excerpt=error.message_en or "",
        ) from None
    data = _Fields(fields.get("Data", "data"))
    _require_success_evidence(http_status, fields, "messageId", outcome=outcome)
    if (as_text(data.get("result")) or "1") not in ("1", "true", "success"):
        raise TaqnyatResponseError(
            "Send response reports a failed result",
            http_status=http_status,
            body_excerpt=_body_excerpt(body),
        )
    sent = list(recipients)
    keys = _number_keys(sent)
    # The recipients are normally sent as their own keys (international ASCII digits): then the
    # lists below are mapped by C loops (dict, zip), which keeps a long list cheap.
    if keys is sent:
        as_sent = dict(zip(sent, sent, strict=True))
        respelled = False
    else:
        as_sent = {}
        for key, number in zip(keys, sent, strict=True):
            as_sent.setdefault(key, number)
        respelled = any(key != number for key, number in as_sent.items())

    def spelled_as_sent(listed: Any) -> dict[str, str]:
        """The listed numbers once each, by digits, spelled as sent when they are among the recipients."""
        keys = dict.fromkeys(_number_keys(as_number_list(listed)))
        return (
            {key: as_sent.get(key, key) for key in keys} if respelled else dict(zip(keys, keys, strict=True))
        )

    rejected = spelled_as_sent(
        fields.get("rejected", "rejectedNumbers", "rejectedNumber") or data.get("rejectedNumber", "rejected")
    )
    listed_accepted = fields.get("accepted")
    if listed_accepted is None:
        listed_accepted = data.get("accepted")
    listed = listed_accepted is not None and not is_null(listed_accepted)
    candidates = spelled_as_sent(listed_accepted) if listed else as_sent
    accepted = (
        [number for key, number in candidates.items() if key not in rejected]
        if rejected
        else list(candidates.values())
    )
    message_id = as_text(fields.get("messageId")) or as_text(data.get("msgId", "messageId"))
    cost = as_decimal(fields.get("cost", "price"))
    if cost is None:
        cost = as_decimal(data.get("price", "cost"))
    currency = as_text(fields.get("currency")) or as_text(data.get("currency"))
    return SendResult(
        message_id=message_id,
        accepted=accepted,
        rejected=list(rejected.values()),
        cost=cost,
        currency=currency,
        raw=dict(body),
    )


def parse_balance(http_status: int, body_text: str | bytes | None) -> Balance:
    """Read ``GET /account/balance``."""
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    fields = _Fields(body)
    _require_success_evidence(http_status, fields)
    balance = as_decimal(fields.get("balance"))
    if balance is None:
        raise TaqnyatResponseError(
            "Balance response has no readable balance",
            http_status=http_status,
            body_excerpt=_body_excerpt(body),
        )
    return Balance(
        balance=balance,
        currency=as_text(fields.get("currency")),
        account_status=as_text(fields.get("accountStatus")),
        expiry_date=as_text(fields.get("accountExpiryDate")),
        raw=dict(body),
    )


def parse_senders(http_status: int, body_text: str | bytes | None) -> list[Sender]:
    """
    Read ``GET /v1/messages/senders``; a trial account may have none (an empty or null list).

    Each entry may be an object (``senderName``/``status``) or a bare name.
    """
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    fields = _Fields(body)
    _require_success_evidence(http_status, fields, "senders")
    listed = fields.get("senders", "data")
    if isinstance(listed, str) and not is_null(listed):
        try:
            listed = json.loads(listed)
        except (ValueError, RecursionError):
            listed = None
    if is_null(listed) or listed == []:
        return []
    if not isinstance(listed, list):
        raise TaqnyatResponseError(
            "Senders response has no list of senders",
            http_status=http_status,
            body_excerpt=_body_excerpt(body),
        )
    senders = []
    for entry in listed:
        if isinstance(entry, Mapping):
            entry_fields = _Fields(entry)
            name, status = (
                as_text(entry_fields.get("senderName", "name")),
                as_text(entry_fields.get("status")),
            )
        else:
            name, status = as_text(entry), None
        if name:
            senders.append(Sender(name=name, status=status))
    return senders


def parse_acknowledgement(http_status: int, body_text: str | bytes | None) -> Acknowledgement:
    """Read a plain success answer such as ``{"statusCode":201,"message":"Deleted successfully"}``."""
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    fields = _Fields(body)
    _require_success_evidence(http_status, fields)
    return Acknowledgement(message=as_text(fields.get("message", "MessageEn")), raw=dict(body))
