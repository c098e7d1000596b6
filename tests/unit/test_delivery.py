from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from taqnyat_provider.delivery import BatchDelivery, Failure, PreparedSend, RetryPolicy, parse_retry_after
from taqnyat_provider.exceptions import (
    IncompleteDeliveryError,
    TaqnyatDeliveryUnknownError,
    TaqnyatInsufficientBalanceError,
    TaqnyatTransientError,
)
from taqnyat_provider.responses import SendResult

log = logging.getLogger("test")


@pytest.mark.parametrize(
    ("is_send", "failure", "status", "expected"),
    [
        (True, Failure.NOT_CONNECTED, None, True),
        (True, Failure.HTTP_STATUS, 429, True),
        (True, Failure.HTTP_STATUS, 503, True),
        (True, Failure.HTTP_STATUS, 500, False),
        (True, Failure.HTTP_STATUS, 502, False),
        (True, Failure.HTTP_STATUS, 504, False),
        (True, Failure.TIMED_OUT, None, False),
        (True, Failure.DROPPED, None, False),
        (False, Failure.NOT_CONNECTED, None, True),
        (False, Failure.TIMED_OUT, None, True),
        (False, Failure.DROPPED, None, True),
        (False, Failure.HTTP_STATUS, 500, True),
        (False, Failure.HTTP_STATUS, 429, True),
        (False, Failure.HTTP_STATUS, 404, False),
    ],
)
def test_retry_matrix(is_send, failure, status, expected):
    assert RetryPolicy().may_retry(is_send=is_send, failure=failure, http_status=status) is expected


def test_after_failure_raises_unknown_for_sends_that_may_have_arrived():
    with pytest.raises(TaqnyatDeliveryUnknownError, match="not re-sent"):
        RetryPolicy().after_failure(1, is_send=True, failure=Failure.TIMED_OUT, description="POST x", log=log)


def test_after_failure_raises_transient_when_attempts_run_out():
    policy = RetryPolicy(max_attempts=2)
    assert (
        policy.after_failure(
            1, is_send=True, failure=Failure.HTTP_STATUS, http_status=429, description="d", log=log
        )
        >= 0
    )
    with pytest.raises(TaqnyatTransientError):
        policy.after_failure(
            2, is_send=True, failure=Failure.HTTP_STATUS, http_status=429, description="d", log=log
        )


def test_retry_after_is_honoured_and_bounded():
    policy = RetryPolicy(max_retry_after_seconds=10)
    assert policy.delay(1, retry_after=3) == 3
    assert policy.delay(1, retry_after=3600) == 10
    assert 0.8 <= RetryPolicy(backoff_seconds=1).delay(1) <= 1.0
    assert RetryPolicy(backoff_seconds=1, max_backoff_seconds=4).delay(10) <= 4


def test_parse_retry_after():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    assert (
        parse_retry_after((now - timedelta(seconds=5)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now=now) == 0.0
    )
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def result(batch, rejected=(), cost="0.216"):
    return SendResult(
        message_id=f"m{batch[0]}",
        accepted=[n for n in batch if n not in rejected],
        rejected=list(rejected),
        cost=Decimal(cost),
    )


def prepared(recipients, **summary):
    return PreparedSend("voiceSend.php/", {"callerId": "1"}, recipients, "a voice call", summary)


def test_report_aggregates_batches():
    delivery = BatchDelivery(prepared(["1", "2", "3"]), 2)
    for batch in delivery.batches:
        delivery.record(result(batch, rejected=["3"] if "3" in batch else []))
    xcom = delivery.report.to_xcom()
    assert xcom["message_ids"] == ["m1", "m3"]
    assert xcom["accepted"] == ["1", "2"]
    assert xcom["rejected"] == ["3"]
    assert xcom["cost"] == "0.432"
    assert [b["recipients"] for b in xcom["batches"]] == [["1", "2"], ["3"]]


def test_summary_of_the_send_rides_in_the_xcom_and_the_partial_result():
    delivery = BatchDelivery(prepared(["1", "2", "3"], segments=2, encoding="UCS-2"), 2)
    delivery.record(result(["1", "2"]))
    assert delivery.report.to_xcom()["segments"] == 2
    with pytest.raises(IncompleteDeliveryError) as raised:
        delivery.fail(TaqnyatDeliveryUnknownError("timeout"))
    assert raised.value.partial_result["encoding"] == "UCS-2"
    assert raised.value.partial_result["accepted"] == ["1", "2"]


def test_failure_on_first_batch_is_raised_as_is():
    delivery = BatchDelivery(prepared(["1", "2", "3"]), 2)
    error = TaqnyatTransientError("429")
    with pytest.raises(TaqnyatTransientError):
        delivery.fail(error)


def test_unknown_outcome_after_delivered_batch():
    delivery = BatchDelivery(prepared(["1", "2", "3", "4", "5"]), 2)
    delivery.record(result(["1", "2"]))
    with pytest.raises(IncompleteDeliveryError) as raised:
        delivery.fail(TaqnyatDeliveryUnknownError("timeout"))
    error = raised.value
    assert (error.reached, error.maybe_reached, error.not_reached) == (["1", "2"], ["3", "4"], ["5"])
    assert error.partial_result["message_ids"] == ["m1"]
    assert "Batch 2 of 3" in str(error)


def test_api_error_after_delivered_batch_means_rest_not_reached():
    delivery = BatchDelivery(prepared(["1", "2", "3", "4", "5"]), 2)
    delivery.record(result(["1", "2"]))
    with pytest.raises(IncompleteDeliveryError) as raised:
        delivery.fail(TaqnyatInsufficientBalanceError(3))
    assert (raised.value.maybe_reached, raised.value.not_reached) == ([], ["3", "4", "5"])


def test_prepared_payload():
    prepared = PreparedSend("voiceSend.php/", {"callerId": "1"}, ["a", "b"])
    assert prepared.payload(["a"]) == {"recipients": ["a"], "callerId": "1"}
