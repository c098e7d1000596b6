"""
Turning Taqnyat's HTTP answers into typed results or the provider's own errors.

Taqnyat's bodies are loose: numbers arrive as strings, ``null`` as the string ``"null"``, lists as
JSON text with a trailing comma (``"[966500000000,]"``), and ``"status": 1`` on failures too. So no
single field decides success: the HTTP status, ``statusCode``, ``ResponseStatus`` and ``Error`` are
read together, and a success must show positive evidence. No I/O and no Airflow here; every function
raises only ``TaqnyatApiError`` or ``TaqnyatResponseError`` (see the property-based tests).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from taqnyat_provider.exceptions import TaqnyatResponseError, api_error

_NULL_STRINGS = frozenset({"", "null", "none", "nil", "undefined"})
_SUCCESS_WORDS = frozenset({"success", "succeeded", "ok", "sent"})
_FAILURE_WORDS = frozenset({"fail", "failed", "failure", "error"})
_EXCERPT_CHARS = 200


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
        if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
            return int(text.split(".")[0])
    return None


def as_decimal(value: Any) -> Decimal | None:
    if is_null(value) or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value).strip())
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
    if isinstance(value, str):
        items: Iterable[Any] = value.strip().strip("[]").split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return []
    numbers = []
    for item in items:
        text = as_text(item.strip().strip("\"'") if isinstance(item, str) else item)
        if text:
            numbers.append(text)
    return numbers


def _get(mapping: Any, *names: str) -> Any:
    """A key's value whatever its case (``messageId``/``MessageId``), or None."""
    if not isinstance(mapping, Mapping):
        return None
    for name in names:
        if name in mapping:
            return mapping[name]
    lowered = {str(key).lower(): value for key, value in mapping.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


# --------------------------------------------------------------------------------------------------
# Body decoding


def _repair_loose_json(text: str) -> str:
    """Mend what Taqnyat's documented examples show: bare keys and words, trailing commas, missing closers."""
    repaired = re.sub(r"(^|[{,\n])(\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:", r'\1\2"\3":', text.strip())
    repaired = re.sub(
        r"(:\s*)([A-Za-z_][A-Za-z0-9_\-]*)(\s*[,}\]\n])",
        lambda match: (
            match.group(0)
            if match.group(2) in {"true", "false", "null"}
            else f'{match.group(1)}"{match.group(2)}"{match.group(3)}'
        ),
        repaired,
    )
    repaired = re.sub(r",(\s*[}\]])", r"\1", repaired)
    repaired = re.sub(r",\s*$", "", repaired.rstrip())
    stack = []
    in_string = False
    escaped = False
    for char in repaired:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]" and stack:
            stack.pop()
    if in_string:
        return repaired
    if not repaired.lstrip().startswith(("{", "[")):
        repaired = "{" + repaired
        stack.insert(0, "}")
    return repaired + "".join(reversed(stack))


def decode_body(body: str | bytes | None, *, http_status: int | None = None) -> dict[str, Any]:
    """Decode a body into a JSON object, mending loose JSON; raise TaqnyatResponseError otherwise."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = (body or "").strip().lstrip("\ufeff")
    if not text:
        raise TaqnyatResponseError("Empty response body", http_status=http_status)
    if text.startswith("<"):
        raise TaqnyatResponseError(
            "HTML page instead of JSON", http_status=http_status, body_excerpt=excerpt(text)
        )
    for candidate in (text, _repair_loose_json(text)):
        try:
            decoded = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(decoded, dict):
            return decoded
    raise TaqnyatResponseError(
        "Response is not a JSON object", http_status=http_status, body_excerpt=excerpt(text)
    )


_ERROR_CODE_IN_TEXT = re.compile(r'"?ErrorCode"?\s*:\s*"?(\d{1,4})')


def decode_answer(http_status: int, body: str | bytes | None) -> dict[str, Any]:
    """
    Decode a body; when it cannot be decoded, still say what a client error means.

    A body too broken to decode (the reference's own example for code 102 is) still carries its
    error code, found in the text; and a 4xx is an error whatever its body (401: invalid token).
    """
    try:
        return decode_body(body, http_status=http_status)
    except TaqnyatResponseError as error:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else (body or "")
        found = _ERROR_CODE_IN_TEXT.search(text)
        if found is None and not 400 <= http_status < 500:
            raise
        code = int(found.group(1)) if found else None
        raise api_error(code, error.body_excerpt or None, http_status=http_status) from None


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[:_EXCERPT_CHARS] + "…"


# --------------------------------------------------------------------------------------------------
# Outcome


def raise_for_error(http_status: int, body: Mapping[str, Any] | None) -> None:
    """Raise the matching TaqnyatApiError when the status or the body says the request failed."""
    body = body or {}
    error = _get(body, "Error", "error")
    error_code = None
    message_en = message_ar = None
    if isinstance(error, Mapping):
        error_code = as_int(_get(error, "ErrorCode", "code"))
        message_en = as_text(_get(error, "MessageEn", "message"))
        message_ar = as_text(_get(error, "MessageAr"))
    elif isinstance(error, str) and not is_null(error):
        message_en = error.strip()
    body_status = as_int(_get(body, "statusCode"))
    response_status = (as_text(_get(body, "ResponseStatus")) or "").lower()
    message_en = message_en or as_text(_get(body, "message", "MessageEn"))
    message_ar = message_ar or as_text(_get(body, "MessageAr"))

    failed = (
        error_code is not None
        or response_status in _FAILURE_WORDS
        or (body_status is not None and body_status >= 400)
        or http_status >= 400
    )
    if not failed:
        return
    effective_status = http_status if http_status >= 400 else body_status
    if effective_status is not None and effective_status >= 500 and error_code is None:
        raise TaqnyatResponseError(
            "Server error", http_status=effective_status, body_excerpt=message_en or ""
        )
    raise api_error(error_code, message_en, message_ar, http_status=effective_status or http_status)


def _require_success_evidence(http_status: int, body: Mapping[str, Any], *evidence_keys: str) -> None:
    response_status = (as_text(_get(body, "ResponseStatus")) or "").lower()
    body_status = as_int(_get(body, "statusCode"))
    has_evidence = (
        response_status in _SUCCESS_WORDS
        or body_status in (200, 201)
        or any(not is_null(_get(body, key)) for key in evidence_keys)
    )
    if not (200 <= http_status < 300 and has_evidence):
        raise TaqnyatResponseError(
            "Response shows no sign of success",
            http_status=http_status,
            body_excerpt=excerpt(json.dumps(body)),
        )


def parse_system_status(http_status: int, body_text: str | bytes | None) -> SystemStatus:
    """
    Read ``GET /system/status/``.

    Operational only when HTTP and ``statusCode`` agree on 200, the affected service is "none" and
    the description does not speak of trouble.
    """
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    status = _get(body, "status")
    if not isinstance(status, Mapping):
        raise TaqnyatResponseError(
            "Status response has no 'status' object",
            http_status=http_status,
            body_excerpt=excerpt(json.dumps(body)),
        )
    _require_success_evidence(http_status, body)
    service_value = _get(status, "service")
    # "none" is the API's word for "no service affected", not a null: keep it as said.
    service = service_value.strip() if isinstance(service_value, str) and service_value.strip() else None
    description = as_text(_get(status, "description"))
    body_status = as_int(_get(body, "statusCode"))
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
    does not list as rejected (the voice API only reports ``rejectedNumber``).
    """
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    data = _get(body, "Data", "data")
    data = data if isinstance(data, Mapping) else {}
    _require_success_evidence(http_status, body, "messageId")
    if (as_text(_get(data, "result")) or "1") not in ("1", "true", "success"):
        raise TaqnyatResponseError(
            "Send response reports a failed result",
            http_status=http_status,
            body_excerpt=excerpt(json.dumps(body)),
        )
    rejected = as_number_list(
        _get(body, "rejected", "rejectedNumbers", "rejectedNumber")
        or _get(data, "rejectedNumber", "rejected")
    )
    listed_accepted = _get(body, "accepted") if _get(body, "accepted") is not None else _get(data, "accepted")
    if listed_accepted is not None and not is_null(listed_accepted):
        accepted = as_number_list(listed_accepted)
    else:
        rejected_set = set(rejected)
        accepted = [number for number in recipients if number not in rejected_set]
    message_id = as_text(_get(body, "messageId")) or as_text(_get(data, "msgId", "messageId"))
    cost = as_decimal(_get(body, "cost", "price"))
    if cost is None:
        cost = as_decimal(_get(data, "price", "cost"))
    currency = as_text(_get(body, "currency")) or as_text(_get(data, "currency"))
    return SendResult(
        message_id=message_id,
        accepted=accepted,
        rejected=rejected,
        cost=cost,
        currency=currency,
        raw=dict(body),
    )


def parse_balance(http_status: int, body_text: str | bytes | None) -> Balance:
    """Read ``GET /account/balance``."""
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    _require_success_evidence(http_status, body)
    balance = as_decimal(_get(body, "balance"))
    if balance is None:
        raise TaqnyatResponseError(
            "Balance response has no readable balance",
            http_status=http_status,
            body_excerpt=excerpt(json.dumps(body)),
        )
    return Balance(
        balance=balance,
        currency=as_text(_get(body, "currency")),
        account_status=as_text(_get(body, "accountStatus")),
        expiry_date=as_text(_get(body, "accountExpiryDate")),
        raw=dict(body),
    )


def parse_senders(http_status: int, body_text: str | bytes | None) -> list[Sender]:
    """
    Read ``GET /v1/messages/senders``; a trial account may have none (an empty or null list).

    Each entry may be an object (``senderName``/``status``) or a bare name.
    """
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    _require_success_evidence(http_status, body, "senders")
    listed = _get(body, "senders", "data")
    if isinstance(listed, str) and not is_null(listed):
        try:
            listed = json.loads(listed)
        except ValueError:
            listed = None
    if is_null(listed) or listed == []:
        return []
    if not isinstance(listed, list):
        raise TaqnyatResponseError(
            "Senders response has no list of senders",
            http_status=http_status,
            body_excerpt=excerpt(json.dumps(body)),
        )
    senders = []
    for entry in listed:
        if isinstance(entry, Mapping):
            name, status = as_text(_get(entry, "senderName", "name")), as_text(_get(entry, "status"))
        else:
            name, status = as_text(entry), None
        if name:
            senders.append(Sender(name=name, status=status))
    return senders


def parse_acknowledgement(http_status: int, body_text: str | bytes | None) -> Acknowledgement:
    """Read a plain success answer such as ``{"statusCode":201,"message":"Deleted successfully"}``."""
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    _require_success_evidence(http_status, body)
    return Acknowledgement(message=as_text(_get(body, "message", "MessageEn")), raw=dict(body))
