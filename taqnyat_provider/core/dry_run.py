"""
Rehearsing a send (``dry_run``) and capping its size (``max_recipients``).

A dry run checks everything a send checks and describes the requests it would post, batch by
batch, exactly as :class:`~taqnyat_provider.core.delivery.Delivery` would build them
(``prepared.payload(batch)`` for each batch of ``batch_size``); it posts nothing and writes no
send ledger. ``max_recipients`` stops a send larger than the task expects (an upstream task that
hands over 50,000 numbers instead of 5) before any request. No Airflow and no I/O here.
"""

from __future__ import annotations

from typing import Any

from taqnyat_provider.core.delivery import batched
from taqnyat_provider.core.errors import InvalidInputError, TooManyRecipientsError, sample
from taqnyat_provider.core.sending import PreparedSend

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "", "none")


def read_dry_run(value: Any) -> bool:
    """
    ``dry_run`` as given, or as a template renders it (``"True"``, ``"false"``, ``""``): the words
    ``urgent`` takes. Anything else fails: a typo must not turn a rehearsal into a real send.
    """
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInputError(f"dry_run must be true or false, got {value!r:.100}")


def check_max_recipients(value: Any) -> int | None:
    """``max_recipients``: a positive whole number, or None for no cap."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"max_recipients must be a positive whole number or None, got {value!r:.100}")
    return value


def enforce_max_recipients(prepared: PreparedSend, cap: int | None) -> None:
    """Fail, before any request, when the send's normalized recipients outnumber ``cap``."""
    if cap is not None and len(prepared.recipients) > cap:
        raise TooManyRecipientsError(len(prepared.recipients), cap)


def planned_requests(prepared: PreparedSend, batch_size: int) -> list[dict[str, Any]]:
    """The requests a send would post, in order: ``{"endpoint": ..., "json": body}`` per batch."""
    return [
        {"endpoint": prepared.endpoint, "json": prepared.payload(batch)}
        for batch in batched(prepared.recipients, batch_size)
    ]


def rehearsal(prepared: PreparedSend, batch_size: int) -> dict[str, Any]:
    """
    A dry run's result, in the shape of a real send's XCom where that makes sense.

    The outcome lists are empty (nobody was reached, nothing cost anything) and every batch's
    ``status`` is ``"dry_run"``; ``requests`` holds each body that would be posted, so its size
    grows with the recipients (about 16 bytes of JSON per number, plus the message fields once
    per batch).
    """
    requests = planned_requests(prepared, batch_size)
    return {
        "dry_run": True,
        **prepared.summary,
        "endpoint": prepared.endpoint,
        "recipients": len(prepared.recipients),
        "requests": requests,
        "message_ids": [],
        "accepted": [],
        "rejected": [],
        "maybe_reached": [],
        "cost": None,
        "currency": None,
        "batches": [
            {
                "batch": number,
                "status": "dry_run",
                "try": None,
                "recipients": len(request["json"]["recipients"]),
                "message_id": None,
                "accepted": 0,
                "rejected": 0,
                "cost": None,
            }
            for number, request in enumerate(requests, start=1)
        ],
        "total_batches": len(requests),
    }


def announce(log: Any, prepared: PreparedSend, result: dict[str, Any]) -> None:
    """The dry run's log line, the same for operators and notifiers: counts and a sample, never the list."""
    log.info(
        "Dry run: would send %s to %d recipient(s) in %d request(s) to %s (sample: %s); "
        "nothing was sent and no send ledger was written",
        prepared.what,
        result["recipients"],
        result["total_batches"],
        prepared.endpoint,
        sample(prepared.recipients),
    )
