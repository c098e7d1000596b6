from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from taqnyat_provider.core.retry import RetryPolicy, exchange, parse_retry_after
from taqnyat_provider.core.steps import Answer, Failure, Request, TransportError, Wait
from taqnyat_provider.exceptions import TaqnyatDeliveryUnknownError, TaqnyatTransientError

log = logging.getLogger("test")
POST = Request("POST", "voiceSend.php/", json={"recipients": ["1"]})
GET = Request("GET", "account/balance")


@pytest.mark.parametrize(
    ("is_send", "failure", "status", "retry_after", "expected"),
    [
        (True, Failure.NOT_CONNECTED, None, False, True),
        (True, Failure.HTTP_STATUS, 429, False, True),
        (True, Failure.HTTP_STATUS, 503, True, True),
        # A bare 503 may come from a proxy that already forwarded the request.
        (True, Failure.HTTP_STATUS, 503, False, False),
        (True, Failure.HTTP_STATUS, 500, False, False),
        (True, Failure.HTTP_STATUS, 502, True, False),
        (True, Failure.HTTP_STATUS, 504, False, False),
        (True, Failure.TIMED_OUT, None, False, False),
        (True, Failure.DROPPED, None, False, False),
        (False, Failure.NOT_CONNECTED, None, False, True),
        (False, Failure.TIMED_OUT, None, False, True),
        (False, Failure.DROPPED, None, False, True),
        (False, Failure.HTTP_STATUS, 500, False, True),
        (False, Failure.HTTP_STATUS, 503, False, True),
        (False, Failure.HTTP_STATUS, 429, False, True),
        (False, Failure.HTTP_STATUS, 404, False, False),
    ],
)
def test_retry_matrix(is_send, failure, status, retry_after, expected):
    policy = RetryPolicy()
    assert (
        policy.may_retry(is_send=is_send, failure=failure, http_status=status, retry_after=retry_after)
        is expected
    )


def test_retry_after_is_honoured_and_bounded():
    policy = RetryPolicy(max_retry_after_seconds=10)
    assert 3 <= policy.delay(1, retry_after=3) <= 3.3  # never earlier than asked, spread a little
    assert 10 <= policy.delay(1, retry_after=3600) <= 11
    assert 0.8 <= RetryPolicy(backoff_seconds=1).delay(1) <= 1.0
    assert RetryPolicy(backoff_seconds=1, max_backoff_seconds=4).delay(10) <= 4


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 12 ", 12.0),
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        (
            (datetime(2026, 1, 1, tzinfo=UTC) - timedelta(seconds=5)).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            0.0,
        ),
        (None, None),
        ("", None),
        ("soon", None),
        ("²", None),  # str.isdigit() says yes; float() says no
        ("٣", None),
        ("1e3", None),
        ("-5", None),
        ("99999999999999999999", None),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
    ],
)
def test_parse_retry_after_never_raises(header, seconds):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def run(request, outcomes, policy=None):
    """Drive ``exchange`` with scripted outcomes; return (result or error, waits, attempts)."""
    steps = exchange(request, policy or RetryPolicy(max_attempts=3), log)
    waits, attempts, outcomes = [], 0, list(outcomes)
    step = next(steps)
    try:
        while True:
            if isinstance(step, Wait):
                waits.append(step.seconds)
                step = steps.send(None)
                continue
            attempts += 1
            outcome = outcomes.pop(0)
            step = steps.throw(outcome) if isinstance(outcome, BaseException) else steps.send(outcome)
    except StopIteration as done:
        return done.value, waits, attempts
    except Exception as error:
        return error, waits, attempts


def test_answer_is_returned_at_once():
    answer = Answer(200, {}, b"{}")
    assert run(POST, [answer]) == (answer, [], 1)


def test_a_4xx_is_an_answer_to_parse_not_a_failure():
    answer = Answer(401, {}, b"{}")
    assert run(POST, [answer])[0] is answer


def test_429_with_retry_after_is_retried_after_that_long():
    result, waits, attempts = run(POST, [Answer(429, {"Retry-After": "2"}), Answer(201, {}, b"ok")])
    assert (result.status, attempts) == (201, 2) and 2.0 <= waits[0] <= 2.2


def test_attempts_running_out_on_a_safe_failure_is_transient():
    refused = TransportError(Failure.NOT_CONNECTED, "refused")
    error, waits, attempts = run(POST, [refused, refused, refused])
    assert isinstance(error, TaqnyatTransientError) and error.retryable
    assert (len(waits), attempts) == (2, 3)


@pytest.mark.parametrize(
    "outcome",
    [
        TransportError(Failure.TIMED_OUT, "read timeout"),
        TransportError(Failure.DROPPED, "reset"),
        Answer(500),
        Answer(503),
    ],
)
def test_a_send_that_may_have_arrived_is_unknown_after_one_attempt(outcome):
    error, waits, attempts = run(POST, [outcome])
    assert isinstance(error, TaqnyatDeliveryUnknownError) and not error.retryable
    assert (waits, attempts) == ([], 1)
    assert "not re-sent" in str(error)


def test_reads_are_retried_on_anything_transient():
    result, waits, attempts = run(GET, [TransportError(Failure.TIMED_OUT, "t"), Answer(503), Answer(200)])
    assert (result.status, len(waits), attempts) == (200, 2, 3)


def test_odd_retry_after_falls_back_to_backoff():
    result, waits, _ = run(
        POST, [Answer(429, {"Retry-After": "²"}), Answer(201)], RetryPolicy(backoff_seconds=1)
    )
    assert result.status == 201 and 0.8 <= waits[0] <= 1.0
