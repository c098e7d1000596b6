"""
``GET /account/balance`` and ``GET /v1/messages/senders``: the account's balance and sender names.

Both are authenticated, read-only and free: the connection test and ``min_balance`` use the first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from taqnyat_provider.core.errors import TaqnyatResponseError
from taqnyat_provider.core.retry import RetryPolicy, exchange
from taqnyat_provider.core.steps import Request, Steps
from taqnyat_provider.core.wire import (
    Fields,
    as_decimal,
    as_text,
    body_excerpt,
    decode_answer,
    is_null,
    raise_for_error,
    require_success_evidence,
)

BALANCE_ENDPOINT = "account/balance"
SENDERS_ENDPOINT = "v1/messages/senders"


@dataclass(frozen=True)
class Balance:
    balance: Decimal
    currency: str | None
    account_status: str | None
    expiry_date: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Sender:
    """A sender name of the account and its status (``active``, ``pending``, ...)."""

    name: str
    status: str | None

    @property
    def active(self) -> bool:
        return (self.status or "").lower() == "active"


def parse_balance(http_status: int, body_text: str | bytes | None) -> Balance:
    """Read ``GET /account/balance``."""
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    fields = Fields(body)
    require_success_evidence(http_status, fields)
    balance = as_decimal(fields.get("balance"))
    if balance is None:
        raise TaqnyatResponseError(
            "Balance response has no readable balance",
            http_status=http_status,
            body_excerpt=body_excerpt(body),
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
    fields = Fields(body)
    require_success_evidence(http_status, fields, "senders")
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
            body_excerpt=body_excerpt(body),
        )
    senders = []
    for entry in listed:
        if isinstance(entry, Mapping):
            entry_fields = Fields(entry)
            name, status = (
                as_text(entry_fields.get("senderName", "name")),
                as_text(entry_fields.get("status")),
            )
        else:
            name, status = as_text(entry), None
        if name:
            senders.append(Sender(name=name, status=status))
    return senders


def balance(policy: RetryPolicy, log: Any) -> Steps[Balance]:
    """``GET /account/balance`` as steps."""
    answer = yield from exchange(Request("GET", BALANCE_ENDPOINT), policy, log)
    return parse_balance(answer.status, answer.body)


def senders(policy: RetryPolicy, log: Any) -> Steps[list[Sender]]:
    """``GET /v1/messages/senders`` as steps; a trial account may have none."""
    answer = yield from exchange(Request("GET", SENDERS_ENDPOINT), policy, log)
    return parse_senders(answer.status, answer.body)
