"""
When a request may go out again, as a step-by-step exchange that any transport can drive.

A voice call costs money and wakes a person, so the rules are strict and live here once for the
sync hook and the async hook:

* A read (GET) is retried with backoff on any transport failure, 429 and 5xx.
* A send (POST/DELETE) is retried only when it provably was not processed: the connection was never
  made, the server answered 429, or 503 *with* a ``Retry-After`` (the API or its gateway asking to
  come back later). A bare 503 may be a proxy's "upstream reset" after it forwarded the request, so
  like every other failure after the request may have reached the server it is "delivery unknown"
  and is never re-sent.

:func:`exchange` is a generator of :mod:`~taqnyat_provider.core.steps`: it yields the request to send
or a wait, receives the transport's answer (or has a ``TransportError`` thrown in), and returns the
answer to parse. No I/O, no Airflow and no HTTP library here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from taqnyat_provider.core.errors import TaqnyatDeliveryUnknownError, TaqnyatTransientError
from taqnyat_provider.core.steps import Answer, Failure, Request, Steps, TransportError, Wait

_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def may_retry(
        self, *, is_send: bool, failure: Failure, http_status: int | None = None, retry_after: bool = False
    ) -> bool:
        """Whether the same request may go out again, regardless of the attempts left."""
        if failure is Failure.NOT_CONNECTED:
            return True
        if failure is Failure.HTTP_STATUS:
            if http_status == 429 or (http_status == 503 and retry_after):
                return True
            return not is_send and http_status is not None and http_status >= 500
        return not is_send

    @staticmethod
    def is_answer(http_status: int) -> bool:
        """Whether a status is the server's real answer, to be parsed, rather than a transport fault."""
        return http_status != 429 and http_status < 500

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """
        Seconds to wait before attempt ``attempt + 1``; a server's Retry-After wins, within bounds.

        Up to 10% more than Retry-After, at random: tasks refused in the same window (a burst of
        mapped tasks) then come back spread out instead of all at the instant the window reopens.
        """
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), self.max_retry_after_seconds)
            return wait * random.uniform(1.0, 1.1)
        backoff = self.backoff_seconds * (2 ** (attempt - 1))
        return min(backoff, self.max_backoff_seconds) * random.uniform(0.8, 1.0)


DEFAULT_RETRY_POLICY = RetryPolicy()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit() also takes '²' and other digits float() refuses.
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def http_detail(answer: Answer) -> str:
    from taqnyat_provider.core.loose_json import excerpt

    return f"HTTP {answer.status} {excerpt(answer.body[:400].decode('utf-8', 'replace'))[:120]!r}"


def exchange(request: Request, policy: RetryPolicy, log: Any) -> Steps[Answer]:
    """
    Make ``request`` under the retry rules; return the server's answer (never 429/5xx).

    :raises TaqnyatDeliveryUnknownError: a send may have been processed; never re-sent.
    :raises TaqnyatTransientError: the call failed but provably was not processed.
    """
    for attempt in range(1, policy.max_attempts + 1):
        http_status: int | None = None
        retry_after: float | None = None
        try:
            answer = yield request
        except TransportError as error:
            failure, detail = error.failure, error.detail
        else:
            assert answer is not None
            if policy.is_answer(answer.status):
                return answer
            failure, http_status = Failure.HTTP_STATUS, answer.status
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            detail = http_detail(answer)
        description = f"{request.method} /{request.endpoint}: {failure.value} ({detail})"
        may_retry = policy.may_retry(
            is_send=request.is_send,
            failure=failure,
            http_status=http_status,
            retry_after=retry_after is not None,
        )
        if not may_retry or attempt == policy.max_attempts:
            log.error("Giving up after attempt %d of %d: %s", attempt, policy.max_attempts, description)
            if request.is_send and not may_retry:
                raise TaqnyatDeliveryUnknownError(description, http_status=http_status)
            raise TaqnyatTransientError(description, http_status=http_status)
        delay = policy.delay(attempt, retry_after)
        log.warning(
            "Attempt %d of %d failed: %s. Trying again in %.1f s.",
            attempt,
            policy.max_attempts,
            description,
            delay,
        )
        yield Wait(delay)
    raise AssertionError("unreachable")  # pragma: no cover
