"""
The Taqnyat API's read and admin calls as steps (see :mod:`taqnyat_provider.steps`).

Each function yields the request under the retry rules and returns the parsed answer, so the sync
and the async hook expose the same calls by driving the same generator. Sends go through the
delivery engine (:mod:`taqnyat_provider.delivery`). No I/O and no Airflow here.
"""

from __future__ import annotations

from typing import Any

from taqnyat_provider import responses
from taqnyat_provider.retry import RetryPolicy, exchange
from taqnyat_provider.sms import check_delete_id
from taqnyat_provider.steps import Request, Steps

STATUS_ENDPOINT = "system/status/"
BALANCE_ENDPOINT = "account/balance"
SENDERS_ENDPOINT = "v1/messages/senders"
DELETE_SMS_ENDPOINT = "v1/messages/delete"


def system_status(policy: RetryPolicy, log: Any) -> Steps[responses.SystemStatus]:
    """``GET /system/status/``: it needs no authorization, so no token is sent."""
    answer = yield from exchange(Request("GET", STATUS_ENDPOINT, authenticated=False), policy, log)
    return responses.parse_system_status(answer.status, answer.body)


def balance(policy: RetryPolicy, log: Any) -> Steps[responses.Balance]:
    """``GET /account/balance``: authenticated, read-only and free."""
    answer = yield from exchange(Request("GET", BALANCE_ENDPOINT), policy, log)
    return responses.parse_balance(answer.status, answer.body)


def senders(policy: RetryPolicy, log: Any) -> Steps[list[responses.Sender]]:
    """``GET /v1/messages/senders``; a trial account may have none."""
    answer = yield from exchange(Request("GET", SENDERS_ENDPOINT), policy, log)
    return responses.parse_senders(answer.status, answer.body)


def delete_scheduled_sms(delete_id: Any, policy: RetryPolicy, log: Any) -> Steps[responses.Acknowledgement]:
    """``DELETE /v1/messages/delete``: cancel a scheduled SMS by its ``deleteId``."""
    request = Request("DELETE", DELETE_SMS_ENDPOINT, params={"deleteId": check_delete_id(delete_id)})
    answer = yield from exchange(request, policy, log)
    return responses.parse_acknowledgement(answer.status, answer.body)
