"""
``DELETE /v1/messages/delete``: cancel a scheduled SMS by the ``deleteId`` it was sent with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taqnyat_provider.core.retry import RetryPolicy, exchange
from taqnyat_provider.core.sms_text import check_delete_id
from taqnyat_provider.core.steps import Request, Steps
from taqnyat_provider.core.wire import (
    Fields,
    as_text,
    decode_answer,
    raise_for_error,
    require_success_evidence,
)

DELETE_SMS_ENDPOINT = "v1/messages/delete"


@dataclass(frozen=True)
class Acknowledgement:
    """A plain "done" answer, such as the one to deleting a scheduled SMS."""

    message: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def parse_acknowledgement(http_status: int, body_text: str | bytes | None) -> Acknowledgement:
    """Read a plain success answer such as ``{"statusCode":201,"message":"Deleted successfully"}``."""
    body = decode_answer(http_status, body_text)
    raise_for_error(http_status, body)
    fields = Fields(body)
    require_success_evidence(http_status, fields)
    return Acknowledgement(message=as_text(fields.get("message", "MessageEn")), raw=dict(body))


def delete_scheduled_sms(delete_id: Any, policy: RetryPolicy, log: Any) -> Steps[Acknowledgement]:
    """The call as steps; the ``deleteId`` is checked before anything is sent."""
    request = Request("DELETE", DELETE_SMS_ENDPOINT, params={"deleteId": check_delete_id(delete_id)})
    answer = yield from exchange(request, policy, log)
    return parse_acknowledgement(answer.status, answer.body)
