"""
``GET /system/status/``: is Taqnyat's service operational? It needs no token.

The sensor and its trigger poll it: :func:`poll` is their one rule of waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taqnyat_provider.core.errors import TaqnyatConfigurationError, TaqnyatError, TaqnyatResponseError
from taqnyat_provider.core.retry import RetryPolicy, exchange
from taqnyat_provider.core.steps import Request, Steps
from taqnyat_provider.core.wire import (
    Fields,
    as_text,
    body_excerpt,
    decode_answer,
    require_success_evidence,
    verdict,
)

STATUS_ENDPOINT = "system/status/"


@dataclass(frozen=True)
class SystemStatus:
    operational: bool
    service: str | None
    description: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"operational": self.operational, "service": self.service, "description": self.description}


def parse_system_status(http_status: int, body_text: str | bytes | None) -> SystemStatus:
    """
    Read ``GET /system/status/``.

    Operational only when HTTP and ``statusCode`` agree on 200, the affected service is "none" and
    the description does not speak of trouble.
    """
    body = decode_answer(http_status, body_text)
    fields = Fields(body)
    outcome = verdict(http_status, fields)
    status_value = fields.get("status")
    if not isinstance(status_value, Mapping):
        raise TaqnyatResponseError(
            "Status response has no 'status' object",
            http_status=http_status,
            body_excerpt=body_excerpt(body),
        )
    require_success_evidence(http_status, fields, outcome=outcome)
    status = Fields(status_value)
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


def system_status(policy: RetryPolicy, log: Any) -> Steps[SystemStatus]:
    """The call as steps (see :mod:`taqnyat_provider.core.steps`): no token is sent."""
    answer = yield from exchange(Request("GET", STATUS_ENDPOINT, authenticated=False), policy, log)
    return parse_system_status(answer.status, answer.body)


POLL_POLICY = RetryPolicy(max_attempts=1)
"""A poll is one attempt: the sensor and the trigger poll again anyway, at their own cadence."""


@dataclass(frozen=True)
class StatusPoll:
    """
    What one poll of the status says: whether the wait is over, the status when one was read, and
    the line to log (``trouble``: a warning, for a poll that could not read the status).
    """

    done: bool
    status: SystemStatus | None
    message: str
    trouble: bool = False


def poll(log: Any) -> Steps[StatusPoll]:
    """
    One poll for the status sensor and its trigger: the rule of waiting, written once.

    A configuration error (a bad base URL, an unreadable CA bundle) is raised: no later poll can
    cure it. Any other failure (no connection, a timeout, a 5xx, an unreadable answer) is a poll
    that read nothing, and the wait goes on.
    """
    try:
        status = yield from system_status(POLL_POLICY, log)
    except TaqnyatConfigurationError:
        raise
    except TaqnyatError as error:
        return StatusPoll(False, None, f"Taqnyat status unavailable, asking again: {error}", trouble=True)
    if status.operational:
        return StatusPoll(True, status, f"Taqnyat is operational: {status.description}")
    return StatusPoll(
        False, status, f"Taqnyat is not operational yet: service {status.service!r}: {status.description}"
    )
