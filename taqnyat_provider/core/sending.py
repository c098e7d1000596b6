"""
What the two send endpoints share: a checked send (:class:`PreparedSend`) and the answer to one batch.

A send endpoint (:mod:`~taqnyat_provider.core.endpoints.voice`,
:mod:`~taqnyat_provider.core.endpoints.sms`) checks what a voice call or an SMS asks for and
prepares a :class:`PreparedSend` with the connection's settings: its path, its body but the
recipients, the recipients, and the parser of its answers. The delivery engine
(:mod:`~taqnyat_provider.core.delivery`) batches it and hands each answer to that parser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from taqnyat_provider.core.errors import TaqnyatApiError, TaqnyatResponseError
from taqnyat_provider.core.wire import (
    Fields,
    as_decimal,
    as_number_list,
    as_text,
    body_excerpt,
    decode_answer,
    is_null,
    number_keys,
    require_success_evidence,
    verdict,
)

DEFAULT_CURRENCY = "SAR"
"""Taqnyat bills in Saudi riyals; the voice API's answer does not say so, the SMS API's does."""


class ConnectionDefaults(Protocol):
    """The connection extras a send falls back on (see ``ConnectionSettings``)."""

    @property
    def caller_id(self) -> str | None: ...

    @property
    def sender(self) -> str | None: ...


@dataclass(frozen=True)
class SendResult:
    """One accepted send (a voice call batch or an SMS batch)."""

    message_id: str | None
    accepted: list[str]
    rejected: list[str]
    cost: Decimal | None
    currency: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


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
        fields = Fields(body)
        outcome = verdict(http_status, fields)
    except TaqnyatApiError as error:
        if not 200 <= http_status < 300:
            raise
        reported = f"error {error.code}" if error.code is not None else "a failure"
        raise TaqnyatResponseError(
            f"Contradictory answer: the HTTP status accepts the send but the body reports {reported}",
            http_status=http_status,
            body_excerpt=error.message_en or "",
        ) from None
    data = Fields(fields.get("Data", "data"))
    require_success_evidence(http_status, fields, "messageId", outcome=outcome)
    if (as_text(data.get("result")) or "1") not in ("1", "true", "success"):
        raise TaqnyatResponseError(
            "Send response reports a failed result",
            http_status=http_status,
            body_excerpt=body_excerpt(body),
        )
    sent = list(recipients)
    keys = number_keys(sent)
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
        keys = dict.fromkeys(number_keys(as_number_list(listed)))
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


SendParser = Callable[[int, bytes, list[str]], SendResult]
"""Reads the answer to one batch: HTTP status, body and the batch's recipients."""


@dataclass(frozen=True)
class PreparedSend:
    """
    A send whose every argument was checked: the endpoint, the body but its recipients, and those.

    ``summary`` is what the send's XCom says about it besides the outcome (an SMS's segments, say).
    ``generated`` names the fields made up here rather than given (a scheduled SMS's ``deleteId``):
    a later try of the same send takes them from the send ledger instead of making new ones.
    ``scheduled`` says when a scheduled send goes out, for the log. ``parse`` reads a batch's answer:
    each send endpoint names its own, so the delivery engine knows no endpoint's answer (both send
    endpoints answer alike, and a ``PreparedSend`` made without one reads that answer).
    """

    endpoint: str
    fields: dict[str, Any]
    recipients: list[str]
    what: str = "a message"
    summary: dict[str, Any] = field(default_factory=dict)
    generated: frozenset[str] = frozenset()
    scheduled: str | None = None
    parse: SendParser = field(default=parse_send_response, kw_only=True, repr=False, compare=False)

    def payload(self, batch: list[str]) -> dict[str, Any]:
        return {"recipients": batch, **self.fields}

    def canonical(self, batch_size: int) -> str:
        """What identifies this send across tries: endpoint, given fields, recipients and batching."""
        given = {name: value for name, value in self.fields.items() if name not in self.generated}
        return json.dumps(
            [self.endpoint, given, self.recipients, batch_size], sort_keys=True, separators=(",", ":")
        )

    def with_generated(self, values: dict[str, Any]) -> PreparedSend:
        """The same send with the made-up fields an earlier try used (the ledger keeps them)."""
        kept = {name: value for name, value in values.items() if name in self.generated}
        if not kept:
            return self
        summary = dict(self.summary)
        if "deleteId" in kept:
            summary["delete_id"] = kept["deleteId"]
        return PreparedSend(
            self.endpoint,
            {**self.fields, **kept},
            self.recipients,
            self.what,
            summary,
            self.generated,
            self.scheduled,
            parse=self.parse,
        )
