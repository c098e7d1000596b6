"""
The delivery engine: one send to many recipients, batch by batch, kept in the send ledger.

Both hooks drive the same :meth:`Delivery.steps` generator (see :mod:`taqnyat_provider.steps`), so
the batch loop and every rule about who may be sent to exist once:

* Recipients go in batches of ``batch_size``, in order. Before each POST the ledger records the
  batch as in flight; after it, what happened. Whatever ends the try in between — an
  ``execution_timeout``, a signal, a crash, any exception — the batch is recorded as unknown first,
  or stays "in flight" when the process died, which a later try reads the same way.
* A later try of the same send (same digest) skips delivered batches and merges their results into
  its report, sends batches that never went out, and stops before sending anything when a batch's
  outcome is unknown — unless the task says ``on_unknown="skip"`` (count them as maybe reached and
  go on) or ``"resend"`` (send them again).
* A batch that provably was not processed (429, 503 with Retry-After, refused connection) ends the
  try with a retryable error: the next try resumes there. An API error code is permanent.
* A send that completed is history: a retry returns its result without sending; a cleared task
  (a higher ``epoch``) sends again.

No I/O and no Airflow here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from taqnyat_provider import responses
from taqnyat_provider.exceptions import (
    DeliveryInterruptedError,
    IncompleteDeliveryError,
    InvalidInputError,
    LedgerMismatchError,
    LedgerUnavailableError,
    TaqnyatApiError,
    TaqnyatConfigurationError,
    TaqnyatDeliveryUnknownError,
    TaqnyatError,
    TaqnyatResponseError,
    TaqnyatTransientError,
    UnresolvedDeliveryError,
    sample,
)
from taqnyat_provider.ledger import BatchRecord, BatchState, Ledger, LedgerEntry, entry_store
from taqnyat_provider.messages import PreparedSend
from taqnyat_provider.responses import SendResult
from taqnyat_provider.retry import DEFAULT_RETRY_POLICY, RetryPolicy, exchange
from taqnyat_provider.sms import API_TIMEZONE
from taqnyat_provider.steps import Call, Request, Steps

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
ON_UNKNOWN_CHOICES = ("fail", "skip", "resend")
DEFAULT_CURRENCY = "SAR"
"""Taqnyat bills in Saudi riyals; the voice API's answer does not say so, the SMS API's does."""

_log = logging.getLogger(__name__)


def check_batch_size(value: Any, maximum: int = MAX_BATCH_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidInputError(f"batch_size must be a whole number from 1 to {maximum}, got {value!r}")
    return value


def check_on_unknown(value: Any) -> str:
    if value not in ON_UNKNOWN_CHOICES:
        raise InvalidInputError(f"on_unknown must be one of {', '.join(ON_UNKNOWN_CHOICES)}; got {value!r}")
    return str(value)


def batched(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


@dataclass
class BatchOutcome:
    number: int
    recipients: list[str]
    state: BatchState
    result: SendResult | None = None
    try_number: int = 0


@dataclass
class DeliveryReport:
    """What a send achieved, batch by batch, this try and earlier ones; JSON-ready through ``to_xcom``."""

    total_batches: int
    summary: dict[str, Any] = field(default_factory=dict)
    outcomes: list[BatchOutcome] = field(default_factory=list)

    @property
    def results(self) -> list[SendResult]:
        return [outcome.result for outcome in self.outcomes if outcome.result is not None]

    @property
    def accepted(self) -> list[str]:
        return [number for result in self.results for number in result.accepted]

    @property
    def rejected(self) -> list[str]:
        return [number for result in self.results for number in result.rejected]

    @property
    def delivered(self) -> list[str]:
        return [n for o in self.outcomes if o.state is BatchState.DELIVERED for n in o.recipients]

    @property
    def maybe_reached(self) -> list[str]:
        return [n for o in self.outcomes if o.state.uncertain for n in o.recipients]

    @property
    def cost(self) -> Decimal | None:
        costs = [result.cost for result in self.results if result.cost is not None]
        return sum(costs, Decimal(0)) if costs else None

    @property
    def currency(self) -> str | None:
        currencies = {result.currency for result in self.results if result.currency}
        if len(currencies) > 1:
            return None
        return currencies.pop() if currencies else (DEFAULT_CURRENCY if self.cost is not None else None)

    def to_xcom(self) -> dict[str, Any]:
        """Each phone number once: the lists at the top, counts per batch."""
        cost = self.cost
        return {
            **self.summary,
            "message_ids": [result.message_id for result in self.results],
            "accepted": self.accepted,
            "rejected": self.rejected,
            "maybe_reached": self.maybe_reached,
            "cost": None if cost is None else str(cost),
            "currency": self.currency,
            "batches": [
                {
                    "batch": outcome.number,
                    "status": outcome.state.value,
                    "try": outcome.try_number,
                    "recipients": len(outcome.recipients),
                    "message_id": outcome.result.message_id if outcome.result else None,
                    "accepted": len(outcome.result.accepted) if outcome.result else 0,
                    "rejected": len(outcome.result.rejected) if outcome.result else 0,
                    "cost": str(outcome.result.cost) if outcome.result and outcome.result.cost else None,
                }
                for outcome in self.outcomes
            ],
            "total_batches": self.total_batches,
        }


def parse_send(answer_status: int, body: bytes, batch: list[str]) -> SendResult:
    """Parse a send's answer; after a POST an unreadable answer means the outcome is unknown."""
    try:
        return responses.parse_send_response(answer_status, body, batch)
    except TaqnyatResponseError as error:
        raise TaqnyatDeliveryUnknownError(str(error), http_status=answer_status) from None


class Delivery:
    """
    One send to many recipients, as steps for a hook to drive::

        report = drive(Delivery(prepared, 100, ledger=ledger).steps(), perform)

    :param prepared: The checked send (see :mod:`taqnyat_provider.messages`).
    :param batch_size: Recipients per request (1 to 1000).
    :param ledger: Where the send's record is kept; a new in-memory one when not given.
    :param on_unknown: What to do with a batch whose outcome is unknown: ``"fail"`` (default: stop,
        name who may have been reached), ``"skip"`` (count them as maybe reached, go on) or
        ``"resend"`` (send them again on the next try).
    """

    def __init__(
        self,
        prepared: PreparedSend,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        ledger: Ledger | None = None,
        on_unknown: str = "fail",
        policy: RetryPolicy | None = None,
        log: Any = None,
    ) -> None:
        self.prepared = prepared
        self.batch_size = check_batch_size(batch_size)
        self.on_unknown = check_on_unknown(on_unknown)
        self.ledger = ledger or Ledger.in_memory()
        # A ledger of its own (a hook used outside a task): no other try or process can read it, so
        # nothing is loaded and the entry is kept, not copied, without a step (see ``_save``).
        self._private = ledger is None
        self.policy = policy or DEFAULT_RETRY_POLICY
        self.log = log or _log
        self.batches = batched(prepared.recipients, self.batch_size)
        # A memory store keeps the entry as an object, on the caller's thread; any other gets JSON.
        self._objects = entry_store(self.ledger.store)
        self._description = f"Taqnyat send ledger of {self.ledger.label or self.ledger.key} (see the provider's delivery docs)"

    # ----------------------------------------------------------------------------------------------
    # The ledger

    def _load(self) -> Steps[LedgerEntry]:
        ledger = self.ledger
        if self._private:
            # Nothing can be stored yet; the digest is only worked out if the entry is ever read.
            return LedgerEntry("", len(self.batches), ledger.epoch, ledger.label)
        digest = self.prepared.digest(self.batch_size)
        load = ledger.store.load if self._objects is None else self._objects.load_entry
        try:
            stored = yield Call(partial(load, ledger.key), blocking=self._objects is None)
        except Exception as error:
            raise LedgerUnavailableError(f"Cannot read the send ledger {ledger.key!r}: {error}") from error
        fresh = LedgerEntry(digest, len(self.batches), ledger.epoch, ledger.label)
        if stored is None:
            return fresh
        try:
            entry = stored if isinstance(stored, LedgerEntry) else LedgerEntry.loads(stored)
        except (ValueError, KeyError, TypeError) as error:
            raise LedgerMismatchError(
                f"The send ledger {ledger.key!r} cannot be read ({error}); delete that Airflow Variable "
                "after checking the Taqnyat account's archive"
            ) from None
        if entry.complete and entry.epoch < ledger.epoch:
            self.log.info(
                "The send ledger shows this send completed before the task was cleared: sending again"
            )
            return fresh
        if entry.digest != digest:
            raise LedgerMismatchError(
                f"This try's recipients or message differ from what an earlier try of this "
                f"send recorded in the send ledger {ledger.key!r} (a template rendered differently?). "
                "Nothing was sent, to avoid reaching anybody twice or missing anybody. Restore the "
                "earlier values, or delete that Airflow Variable after checking the Taqnyat account's archive"
            )
        entry.epoch = ledger.epoch
        return entry

    def _save(self, entry: LedgerEntry) -> Steps[None]:
        ledger, now = self.ledger, datetime.now(UTC)
        if self._private and self._objects is not None:
            self._objects.keep_entry(ledger.key, entry, now, partial(self.prepared.digest, self.batch_size))
            return
        if self._objects is not None:
            save = Call(partial(self._objects.save_entry, ledger.key, entry, now), blocking=False)
        else:
            save = Call(partial(ledger.store.save, ledger.key, entry.dumps(now), self._description))
        try:
            yield save
        except Exception as error:
            raise LedgerUnavailableError(f"Cannot write the send ledger {ledger.key!r}: {error}") from error

    # ----------------------------------------------------------------------------------------------
    # The send

    def steps(self) -> Steps[DeliveryReport]:
        entry = yield from self._load()
        prepared = self.prepared
        if prepared.generated:
            if entry.generated:
                prepared = prepared.with_generated(entry.generated)
            else:
                entry.generated = {name: prepared.fields[name] for name in prepared.generated}
        report = DeliveryReport(total_batches=len(self.batches), summary=dict(prepared.summary))
        if entry.complete:
            self.log.info(
                "The send ledger shows this send completed in an earlier try: nothing is sent again"
            )
            self._replay(entry, report, upto=len(self.batches))
            return report
        yield from self._stop_at_unknown(entry)
        self._announce(entry, prepared)
        try_number = self.ledger.try_number
        for number, batch in enumerate(self.batches, start=1):
            record = entry.batches.get(number)
            if record is not None and record.state is BatchState.DELIVERED:
                report.outcomes.append(
                    BatchOutcome(number, batch, BatchState.DELIVERED, record.result(batch), record.try_number)
                )
                continue
            if record is not None and record.state.uncertain and self.on_unknown == "skip":
                self.log.warning(
                    "Batch %d of %d: outcome unknown, skipped (on_unknown='skip')", number, len(self.batches)
                )
                report.outcomes.append(
                    BatchOutcome(number, batch, BatchState.UNKNOWN, None, record.try_number)
                )
                continue
            entry.batches[number] = BatchRecord(BatchState.IN_FLIGHT, try_number)
            try:
                yield from self._save(entry)
            except LedgerUnavailableError as error:
                entry.batches.pop(number)
                raise self._stopped(report, number, error, retryable=True) from error
            try:
                answer = yield from exchange(
                    Request("POST", prepared.endpoint, json=prepared.payload(batch)), self.policy, self.log
                )
                result = parse_send(answer.status, answer.body, batch)
            except (TaqnyatTransientError, TaqnyatApiError, TaqnyatConfigurationError) as error:
                # Provably not processed: retryable when temporary, permanent for an API error code
                # or a connection the worker cannot use (an untrusted certificate, say).
                retryable = error.retryable
                state = BatchState.REFUSED if isinstance(error, TaqnyatApiError) else BatchState.NOT_SENT
                entry.batches[number] = BatchRecord(state, try_number)
                yield from self._save(entry)
                raise self._stopped(report, number, error, retryable=retryable) from error
            except GeneratorExit:
                raise
            except BaseException as error:
                # Anything after the request may have left — timeout, signal, crash, odd answer — is
                # recorded as unknown before it goes on, so no later try re-sends this batch blindly.
                entry.batches[number] = BatchRecord(BatchState.UNKNOWN, try_number)
                try:
                    yield from self._save(entry)
                except Exception as save_error:
                    self.log.error("Batch %d stays 'in flight' in the send ledger: %s", number, save_error)
                if isinstance(error, TaqnyatDeliveryUnknownError) and self.on_unknown == "skip":
                    self.log.warning(
                        "Batch %d of %d: %s; skipped (on_unknown='skip')", number, len(self.batches), error
                    )
                    report.outcomes.append(BatchOutcome(number, batch, BatchState.UNKNOWN, None, try_number))
                    continue
                if isinstance(error, TaqnyatError) and report.delivered:
                    raise self._stopped(report, number, error, retryable=False) from error
                raise
            entry.batches[number] = BatchRecord.delivered(result, batch, try_number)
            yield from self._save(entry)
            report.outcomes.append(BatchOutcome(number, batch, BatchState.DELIVERED, result, try_number))
            self.log.info(
                "Batch %d of %d delivered: message id %s, %d accepted, %d rejected",
                number,
                len(self.batches),
                result.message_id,
                len(result.accepted),
                len(result.rejected),
            )
        entry.complete = True
        yield from self._save(entry)
        return report

    def _replay(self, entry: LedgerEntry, report: DeliveryReport, upto: int) -> None:
        for number, batch in enumerate(self.batches[:upto], start=1):
            record = entry.batches.get(number)
            if record is None:
                continue
            result = record.result(batch) if record.state is BatchState.DELIVERED else None
            state = BatchState.UNKNOWN if record.state.uncertain else record.state
            report.outcomes.append(BatchOutcome(number, batch, state, result, record.try_number))

    def _stop_at_unknown(self, entry: LedgerEntry) -> Steps[None]:
        """With ``on_unknown="fail"``, an earlier try's unknown batches stop this try before any send."""
        uncertain = entry.uncertain_batches()
        if not uncertain:
            return
        stale = [n for n in uncertain if entry.batches[n].state is BatchState.IN_FLIGHT]
        for number in stale:  # the try that wrote "in flight" ended without saying more: it died
            entry.batches[number] = replace(entry.batches[number], state=BatchState.UNKNOWN)
        if stale:
            yield from self._save(entry)
        if self.on_unknown != "fail":
            return
        raise UnresolvedDeliveryError(
            maybe_reached=[n for number in uncertain for n in self.batches[number - 1]],
            batches=uncertain,
            total_batches=len(self.batches),
            key=self.ledger.key,
        )

    def _announce(self, entry: LedgerEntry, prepared: PreparedSend) -> None:
        scheduled = prepared.summary.get("scheduled_at")
        self.log.info(
            "Sending %s to %d recipient(s) in %d batch(es)%s",
            prepared.what,
            len(prepared.recipients),
            len(self.batches),
            f", scheduled for {scheduled} ({API_TIMEZONE.tzname(None)})" if scheduled else "",
        )
        done = sorted(n for n, r in entry.batches.items() if r.state is BatchState.DELIVERED)
        if entry.batches:
            self.log.info(
                "Resuming from the send ledger %s: %d batch(es) delivered by earlier tries (%s) are not sent again",
                self.ledger.key,
                len(done),
                ", ".join(map(str, done)) or "none",
            )

    def _stopped(
        self, report: DeliveryReport, number: int, error: BaseException, *, retryable: bool
    ) -> BaseException:
        """The error that ends this try at batch ``number``: as it is when nobody was reached yet."""
        if not report.delivered and not report.maybe_reached:
            return error
        unknown = isinstance(error, TaqnyatDeliveryUnknownError)
        current = self.batches[number - 1]
        later = [n for batch in self.batches[number:] for n in batch]
        kind = DeliveryInterruptedError if retryable else IncompleteDeliveryError
        partial_result = report.to_xcom()
        stopped = kind(
            reached=report.delivered,
            maybe_reached=report.maybe_reached + (current if unknown else []),
            not_reached=([] if unknown else current) + later,
            failed_batch=number,
            total_batches=len(self.batches),
            cause=error,
            partial_result=partial_result,
        )
        self.log.error(
            "Stopped at batch %d of %d: reached %d, maybe reached %d, not reached %d (sample: %s)",
            number,
            len(self.batches),
            len(stopped.reached),
            len(stopped.maybe_reached),
            len(stopped.not_reached),
            sample(stopped.not_reached),
        )
        return stopped


_MOVED = {
    "parse_retry_after": "taqnyat_provider.retry",
    "Failure": "taqnyat_provider.steps",
}


def __getattr__(name: str) -> Any:
    """Names that moved out of this module in 0.2.0 keep working, with a warning."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import warnings

    warnings.warn(
        f"taqnyat_provider.delivery.{name} moved to {_MOVED[name]}.{name}", DeprecationWarning, stacklevel=2
    )
    return getattr(importlib.import_module(_MOVED[name]), name)
