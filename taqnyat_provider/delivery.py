"""
When a request may be tried again, and how a multi-batch send reports what happened.

A voice call costs money and wakes a person, so the rules are strict and live in one place for the
sync hook, the async hook, the operators and the notifiers:

* A read (GET) is retried with backoff on any transport failure, 429 and 5xx.
* A send (POST/DELETE) is retried only when it provably was not processed: the connection was never
  made, or the server answered 429 or 503. Anything else after the request may have reached the
  server is "delivery unknown" and is never re-sent.
* Once a batch was delivered, no later failure may let an Airflow retry call those numbers again:
  the task fails without retry and says who was reached, who may have been and who was not.

No I/O and no Airflow here.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

from taqnyat_provider.exceptions import (
    IncompleteDeliveryError,
    TaqnyatDeliveryUnknownError,
    TaqnyatError,
    TaqnyatTransientError,
)
from taqnyat_provider.recipients import batched
from taqnyat_provider.responses import SendResult

NOT_PROCESSED_STATUSES = frozenset({429, 503})
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000


class Failure(enum.Enum):
    """How a request failed, from the point of view of "did the server get it?"."""

    NOT_CONNECTED = "could not connect (refused, name resolution, connect timeout)"
    TIMED_OUT = "no answer before the timeout"
    DROPPED = "connection dropped before an answer"
    HTTP_STATUS = "HTTP error status"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def may_retry(self, *, is_send: bool, failure: Failure, http_status: int | None = None) -> bool:
        """Whether the same request may go out again, regardless of the attempts left."""
        if failure is Failure.NOT_CONNECTED:
            return True
        if failure is Failure.HTTP_STATUS:
            if http_status in NOT_PROCESSED_STATUSES:
                return True
            return not is_send and http_status is not None and http_status >= 500
        return not is_send

    @staticmethod
    def is_answer(http_status: int) -> bool:
        """Whether a status is the server's real answer, to be parsed, rather than a transport fault."""
        return http_status != 429 and http_status < 500

    def after_failure(
        self,
        attempt: int,
        *,
        is_send: bool,
        failure: Failure,
        description: str,
        log: Any,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> float:
        """
        Decide after failed attempt ``attempt``: the seconds to wait before the next one, or raise.

        Raises ``TaqnyatDeliveryUnknownError`` for a send that may have been processed, and
        ``TaqnyatTransientError`` when the attempts ran out on something safe to try later.
        """
        if attempt < self.max_attempts and self.may_retry(
            is_send=is_send, failure=failure, http_status=http_status
        ):
            delay = self.delay(attempt, retry_after)
            log.warning(
                "Attempt %d of %d failed: %s. Trying again in %.1f s.",
                attempt,
                self.max_attempts,
                description,
                delay,
            )
            return delay
        log.error("Giving up after attempt %d of %d: %s", attempt, self.max_attempts, description)
        if is_send and not self.may_retry(is_send=True, failure=failure, http_status=http_status):
            raise TaqnyatDeliveryUnknownError(description, http_status=http_status)
        raise TaqnyatTransientError(description, http_status=http_status)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``; a server's Retry-After wins, within bounds."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_seconds)
        backoff = self.backoff_seconds * (2 ** (attempt - 1))
        return min(backoff, self.max_backoff_seconds) * random.uniform(0.8, 1.0)


DEFAULT_RETRY_POLICY = RetryPolicy()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


# --------------------------------------------------------------------------------------------------
# Batches


@dataclass
class DeliveryReport:
    """What a send of many recipients achieved, batch by batch; JSON-ready through ``to_xcom``."""

    results: list[SendResult] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> list[str]:
        return [number for result in self.results for number in result.accepted]

    @property
    def rejected(self) -> list[str]:
        return [number for result in self.results for number in result.rejected]

    @property
    def delivered(self) -> list[str]:
        return [number for batch in self.batches[: len(self.results)] for number in batch]

    @property
    def cost(self) -> Decimal | None:
        costs = [result.cost for result in self.results if result.cost is not None]
        return sum(costs, Decimal(0)) if costs else None

    def to_xcom(self) -> dict[str, Any]:
        cost = self.cost
        currencies = {result.currency for result in self.results if result.currency}
        return {
            **self.summary,
            "message_ids": [result.message_id for result in self.results],
            "accepted": self.accepted,
            "rejected": self.rejected,
            "cost": str(cost) if cost is not None else None,
            "currency": currencies.pop() if len(currencies) == 1 else None,
            "batches": [
                {
                    "message_id": result.message_id,
                    "recipients": batch,
                    "accepted": result.accepted,
                    "rejected": result.rejected,
                    "cost": str(result.cost) if result.cost is not None else None,
                }
                for batch, result in zip(self.batches, self.results, strict=False)
            ],
        }


@dataclass(frozen=True)
class PreparedSend:
    """
    A send whose every argument was checked: the endpoint, the body but its recipients, and those.

    ``summary`` is what the send's XCom says about it besides the outcome (an SMS's segments, say).
    """

    endpoint: str
    fields: dict[str, Any]
    recipients: list[str]
    what: str = "a message"
    summary: dict[str, Any] = field(default_factory=dict)

    def payload(self, batch: list[str]) -> dict[str, Any]:
        return {"recipients": batch, **self.fields}


class BatchDelivery:
    """
    The bookkeeping of one send to many recipients, batch by batch, for sync and async loops alike::

        delivery = BatchDelivery(prepared, batch_size)
        for batch in delivery.batches:
            try:
                result = send(batch)
            except TaqnyatError as error:
                delivery.fail(error)  # always raises
            delivery.record(result)
        return delivery.report

    A failure on the first batch is raised as it is: nobody was reached, and its own class says
    whether an Airflow retry is safe. A failure after a delivered batch raises
    ``IncompleteDeliveryError``, which never lets Airflow retry the task.
    """

    def __init__(self, prepared: PreparedSend, batch_size: int) -> None:
        self.report = DeliveryReport(
            batches=list(batched(prepared.recipients, batch_size)), summary=dict(prepared.summary)
        )

    @property
    def batches(self) -> list[list[str]]:
        return self.report.batches

    def record(self, result: SendResult) -> None:
        self.report.results.append(result)

    def fail(self, error: TaqnyatError) -> NoReturn:
        report = self.report
        if not report.results:
            raise error
        failed_index = len(report.results)
        failed_batch = report.batches[failed_index]
        maybe_reached = failed_batch if isinstance(error, TaqnyatDeliveryUnknownError) else []
        not_reached = [number for later in report.batches[failed_index:] for number in later]
        raise IncompleteDeliveryError(
            reached=report.delivered,
            maybe_reached=maybe_reached,
            not_reached=not_reached[len(maybe_reached) :],
            failed_batch=failed_index + 1,
            total_batches=len(report.batches),
            cause=error,
            partial_result=report.to_xcom(),
        ) from error
