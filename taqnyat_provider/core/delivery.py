"""
The delivery engine: one send to many recipients, batch by batch, kept in the send ledger.

Both hooks drive the same :meth:`Delivery.steps` generator (see :mod:`taqnyat_provider.core.steps`), so
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

import json
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from taqnyat_provider.core.errors import (
    DeliveryInterruptedError,
    FirstBatchUnknownError,
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
from taqnyat_provider.core.ledger import BatchRecord, BatchState, Ledger, LedgerEntry, digest, key_id
from taqnyat_provider.core.retry import DEFAULT_RETRY_POLICY, RetryPolicy, exchange
from taqnyat_provider.core.sending import (
    DEFAULT_CURRENCY,
    PreparedSend,
    SendParser,
    SendResult,
    parse_send_response,
)
from taqnyat_provider.core.steps import Call, Request, Steps, Wait

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
ON_UNKNOWN_CHOICES = ("fail", "skip", "resend")
LEDGER_WRITE_PAUSES = (0.5, 2.0)
"""Waits before writing a delivered batch's record again (three attempts in all)."""

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


def parse_send(
    answer_status: int, body: bytes, batch: list[str], parse: SendParser = parse_send_response
) -> SendResult:
    """Parse a send's answer; after a POST an unreadable answer means the outcome is unknown."""
    try:
        return parse(answer_status, body, batch)
    except TaqnyatResponseError as error:
        raise TaqnyatDeliveryUnknownError(str(error), http_status=answer_status) from None


class Delivery:
    """
    One send to many recipients, as steps for a hook to drive::

        report = drive(Delivery(prepared, 100, ledger=ledger).steps(), perform)

    :param prepared: The checked send (see :mod:`taqnyat_provider.core.sending`).
    :param batch_size: Recipients per request (1 to 1000).
    :param ledger: Where the send's record is kept; none (a private one) when not given.
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
        self.policy = policy or DEFAULT_RETRY_POLICY
        self.log = log or _log
        self.batches = batched(prepared.recipients, self.batch_size)
        self.writes = 0
        self.bytes_written = 0
        self._kept: dict[str, int] = {}  # key -> size of its last write: what the store keeps

    # ----------------------------------------------------------------------------------------------
    # The ledger

    def _get(self, key: str) -> Steps[Any]:
        ledger = self.ledger
        try:
            return (yield Call(partial(ledger.store.get, key), blocking=ledger.store.blocking))
        except Exception as error:
            raise LedgerUnavailableError(
                f"Cannot read the send ledger ({key!r}{self._where()}): {error}. Nothing more was sent: "
                "a ledger that cannot be read is never taken as empty"
            ) from error

    def _put(self, key: str, value: dict[str, Any], *, keep: bool = True) -> Steps[None]:
        """One durable write; ``keep`` unless the send is complete (nothing in it may be uncertain)."""
        ledger = self.ledger
        if ledger.private:
            return
        store = ledger.store
        try:
            yield Call(partial(store.put, key, value, keep=keep), blocking=store.blocking)
        except Exception as error:
            raise LedgerUnavailableError(
                f"Cannot write the send ledger ({key!r}{self._where()}): {error}"
            ) from error
        self.writes += 1
        size = len(json.dumps(value, separators=(",", ":")))
        self.bytes_written += size
        self._kept[key] = size

    def _where(self) -> str:
        return f", {self.ledger.where}" if self.ledger.where else ""

    def _record(self, number: int, record: BatchRecord, entry: LedgerEntry) -> Steps[None]:
        record.round = entry.round
        entry.batches[number] = record
        yield from self._put(self.ledger.batch_key(number), record.to_dict())

    def _record_and_complete(self, number: int, record: BatchRecord, entry: LedgerEntry) -> Steps[None]:
        """
        Batch ``number``'s record and "the send is complete" in one write of one key: the header,
        which carries the record (``last``). A store needs no transaction for "all or none".
        """
        record.round = entry.round
        earlier = entry.batches.get(number)
        entry.complete_with(number, record)
        try:
            yield from self._header(entry, None)
        except LedgerUnavailableError:
            entry.complete, entry.last = False, None
            if earlier is None:
                del entry.batches[number]
            else:
                entry.batches[number] = earlier
            raise

    def _header(self, entry: LedgerEntry, next_batch: int | None) -> Steps[None]:
        updated = datetime.now(UTC).isoformat(timespec="seconds")
        yield from self._put(self.ledger.head_key, entry.header(next_batch, updated), keep=not entry.complete)
        entry.stored = True

    def _load(self) -> Steps[LedgerEntry]:
        ledger = self.ledger
        total = len(self.batches)
        fresh = LedgerEntry("", key_id(ledger.secret), total, ledger.epoch, ledger.epoch, ledger.label)
        if ledger.private:
            return fresh
        fresh.digest = digest(self.prepared.canonical(self.batch_size), ledger.secret)
        stored = yield from self._get(ledger.head_key)
        if stored is None:
            return fresh
        try:
            entry, following = LedgerEntry.from_header(stored)
        except (ValueError, KeyError, TypeError) as error:
            raise LedgerMismatchError(
                f"The send ledger {ledger.head_key!r}{self._where()} cannot be read ({error}). Nothing was "
                "sent. Check the Taqnyat account's archive, then repair or delete the entry"
            ) from None
        if entry.complete and entry.epoch < ledger.epoch:
            self.log.info(
                "The send ledger shows this send completed before the task was cleared: sending again"
            )
            return fresh
        if entry.key_id != fresh.key_id:
            raise LedgerMismatchError(
                f"The connection's token changed since an earlier try of this send wrote the send ledger "
                f"{ledger.head_key!r}{self._where()}, so this try cannot check that it sends the same thing. "
                "Nothing was sent. Restore the token until the send is done, or check the Taqnyat account's "
                "archive and resolve the entry (see the delivery docs)"
            )
        if entry.digest != fresh.digest or entry.total_batches != total:
            raise LedgerMismatchError(
                f"This try's recipients or message differ from what an earlier try of this send recorded "
                f"in the send ledger {ledger.head_key!r}{self._where()} (a template rendered differently?). "
                "Nothing was sent, to avoid reaching anybody twice or missing anybody. Restore the earlier "
                "values, or check the Taqnyat account's archive and resolve the entry (see the delivery docs)"
            )
        markers: list[tuple[int | None, int]] = [(following, ledger.try_number)]
        for number in range(1, total + 1):
            if number == entry.last:
                continue  # the complete header carries it: newer than its key, if it has one
            data = yield from self._get(ledger.batch_key(number))
            if data is None:
                break
            try:
                record = BatchRecord.from_dict(data)
            except (ValueError, TypeError) as error:
                raise LedgerMismatchError(
                    f"Batch {number} of the send ledger {ledger.batch_key(number)!r}{self._where()} cannot "
                    f"be read: {error}. Nothing was sent"
                ) from None
            if record.round is not None and record.round != entry.round:
                break  # an older round's record: this round never got here
            if record.round is None:
                # A person wrote it, resolving a batch of the send under way: it belongs to this
                # round, and says so from now on, so that no later round takes it for its own.
                record.round = entry.round
                yield from self._put(ledger.batch_key(number), record.to_dict())
            entry.batches[number] = record
            markers.append((record.next, record.try_number))
        # The header's ``next`` was written by the try that began the round; its try is unknown here,
        # so it counts as this try's predecessor (the try number only labels the report).
        entry.mark_in_flight(markers)
        entry.epoch = ledger.epoch
        return entry

    # ----------------------------------------------------------------------------------------------
    # The send

    def steps(self) -> Steps[DeliveryReport]:
        # A store may keep what its calls share (one database connection) while the send runs.
        holding = None if self.ledger.private else getattr(self.ledger.store, "holding", None)
        with holding() if holding is not None else nullcontext():
            return (yield from self._send())

    def _send(self) -> Steps[DeliveryReport]:
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
        skip = self.on_unknown == "skip"
        loaded = set(entry.batches)  # records of earlier tries: an implied "in flight" cannot cover them
        to_send = [
            number
            for number in range(1, len(self.batches) + 1)
            if not (number in entry.batches and entry.batches[number].state is BatchState.DELIVERED)
            and not (number in entry.batches and entry.batches[number].state.uncertain and skip)
        ]
        following: dict[int, int | None] = dict(zip(to_send, [*to_send[1:], None], strict=False))

        def mark(after: int | None) -> int | None:
            """The batch a write may name as next: one with no record, whose POST comes next."""
            upcoming = following.get(after) if after is not None else (to_send[0] if to_send else None)
            return upcoming if upcoming is not None and upcoming not in loaded else None

        marked: set[int] = set()
        if not entry.stored:
            first = mark(None)
            try:
                yield from self._header(entry, first)
            except LedgerUnavailableError as error:
                raise self._stopped(
                    report, to_send[0] if to_send else 1, error, entry=entry, retryable=True
                ) from error
            if first is not None:
                marked.add(first)
        for number, batch in enumerate(self.batches, start=1):
            record = entry.batches.get(number)
            if record is not None and record.state is BatchState.DELIVERED:
                report.outcomes.append(
                    BatchOutcome(number, batch, BatchState.DELIVERED, record.result(batch), record.try_number)
                )
                continue
            if record is not None and record.state.uncertain and skip:
                self.log.warning(
                    "Batch %d of %d: outcome unknown, skipped (on_unknown='skip')", number, len(self.batches)
                )
                report.outcomes.append(
                    BatchOutcome(number, batch, BatchState.UNKNOWN, None, record.try_number)
                )
                continue
            if number not in marked:
                try:
                    yield from self._record(number, BatchRecord(BatchState.IN_FLIGHT, try_number), entry)
                except LedgerUnavailableError as error:
                    raise self._stopped(report, number, error, entry=entry, retryable=True) from error
            try:
                answer = yield from exchange(
                    Request("POST", prepared.endpoint, json=prepared.payload(batch)), self.policy, self.log
                )
                result = parse_send(answer.status, answer.body, batch, self.prepared.parse)
            except (TaqnyatTransientError, TaqnyatApiError, TaqnyatConfigurationError) as error:
                # Provably not processed: retryable when temporary, permanent for an API error code
                # or a connection the worker cannot use (an untrusted certificate, say).
                state = BatchState.REFUSED if isinstance(error, TaqnyatApiError) else BatchState.NOT_SENT
                yield from self._record(number, BatchRecord(state, try_number), entry)
                raise self._stopped(report, number, error, entry=entry, retryable=error.retryable) from error
            except GeneratorExit:
                raise
            except BaseException as error:
                # Anything after the request may have left — timeout, signal, crash, odd answer — is
                # recorded as unknown before it goes on, so no later try re-sends this batch blindly.
                skipped = isinstance(error, TaqnyatDeliveryUnknownError) and skip
                after = mark(number) if skipped else None
                try:
                    yield from self._record(
                        number, BatchRecord(BatchState.UNKNOWN, try_number, next=after), entry
                    )
                except Exception as save_error:
                    self.log.error("Batch %d stays 'in flight' in the send ledger: %s", number, save_error)
                    skipped = False
                else:
                    if after is not None:
                        marked.add(after)
                if skipped:
                    self.log.warning(
                        "Batch %d of %d: %s; skipped (on_unknown='skip')", number, len(self.batches), error
                    )
                    report.outcomes.append(BatchOutcome(number, batch, BatchState.UNKNOWN, None, try_number))
                    continue
                if isinstance(error, TaqnyatError):
                    # Name who may have been reached and who was not, first batch or not.
                    raise self._stopped(report, number, error, entry=entry, retryable=False) from error
                raise
            after = mark(number)
            delivered = BatchRecord.delivered(result, batch, try_number)
            delivered.next = after
            report.outcomes.append(BatchOutcome(number, batch, BatchState.DELIVERED, result, try_number))
            # The last batch to send: its record and "the send is complete" are one write, of the
            # header (a send of n batches writes n + 1 times).
            yield from self._delivered(number, delivered, entry, report, complete=number == to_send[-1])
            if after is not None:
                marked.add(after)
            self.log.info(
                "Batch %d of %d delivered: message id %s, %d accepted, %d rejected",
                number,
                len(self.batches),
                result.message_id,
                len(result.accepted),
                len(result.rejected),
            )
        if entry.complete:  # written with the last batch's record
            self._account()
            return report
        # Nothing was left to send (delivered by earlier tries, or skipped as unknown): complete on its own.
        entry.complete = True
        try:
            yield from self._header(entry, None)
        except LedgerUnavailableError as error:
            # Every batch's record is durable: a later try finds them all delivered and sends nothing.
            self.log.warning("The send is complete, but its ledger header could not say so: %s", error)
        self._account()
        return report

    def _delivered(
        self,
        number: int,
        record: BatchRecord,
        entry: LedgerEntry,
        report: DeliveryReport,
        *,
        complete: bool = False,
    ) -> Steps[None]:
        """
        Record a delivered batch, trying again a few times: a try that cannot record it must not
        end as retryable, or the next try would count it as maybe reached (or resend it).
        ``complete``: in the same write, the header says the send is complete.
        """
        for attempt, pause in enumerate((*LEDGER_WRITE_PAUSES, None), start=1):
            try:
                if complete:
                    yield from self._record_and_complete(number, record, entry)
                else:
                    yield from self._record(number, record, entry)
                return
            except LedgerUnavailableError as error:
                if pause is None:
                    if complete and (yield from self._landed(number, record, entry)):
                        self.log.warning(
                            "Batch %d and the send's completion are in the send ledger, though the store "
                            "reported an error: %s",
                            number,
                            error,
                        )
                        return
                    self.log.error(
                        "Batch %d was delivered, but the send ledger cannot record it: %s", number, error
                    )
                    raise self._stopped(
                        report, number, error, retryable=False, reached=True, entry=entry
                    ) from error
                self.log.warning(
                    "Recording delivered batch %d failed (attempt %d): %s", number, attempt, error
                )
                yield Wait(pause)

    def _landed(self, number: int, record: BatchRecord, entry: LedgerEntry) -> Steps[bool]:
        """
        Whether the header marked complete with batch ``number`` is in the store after all: a write
        can land and still report an error (a timeout after the commit). A complete header on a task
        that failed would make a clear send everyone again, where a person expects it to resume.
        """
        try:
            stored = yield from self._get(self.ledger.head_key)
            found, _ = LedgerEntry.from_header(stored)
        except (LedgerUnavailableError, ValueError, KeyError, TypeError) as error:
            self.log.error(
                'The send ledger\'s header %r could not be read back (%s): if it says "complete", a clear '
                'of this task sends everyone again; set its status to "sending" before clearing',
                self.ledger.head_key,
                error,
            )
            return False
        if not (
            found.complete
            and found.last == number
            and found.round == entry.round
            and found.digest == entry.digest
        ):
            return False
        entry.complete_with(number, record)
        return True

    def _account(self) -> None:
        """One line a benchmark or a person reads: what the ledger cost this try."""
        if self.ledger.private:
            return
        self.log.info(
            "Send ledger: %d writes, %d bytes written, %d bytes kept",
            self.writes,
            self.bytes_written,
            sum(self._kept.values()),
        )

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
            dead = entry.batches[number]
            yield from self._record(number, BatchRecord(BatchState.UNKNOWN, dead.try_number), entry)
        if self.on_unknown != "fail":
            return
        raise UnresolvedDeliveryError(
            maybe_reached=[n for number in uncertain for n in self.batches[number - 1]],
            batches=uncertain,
            total_batches=len(self.batches),
            key=self.ledger.head_key,
            where=self.ledger.where,
        )

    def _announce(self, entry: LedgerEntry, prepared: PreparedSend) -> None:
        self.log.info(
            "Sending %s to %d recipient(s) in %d batch(es)%s",
            prepared.what,
            len(prepared.recipients),
            len(self.batches),
            f", scheduled for {prepared.scheduled}" if prepared.scheduled else "",
        )
        done = sorted(n for n, r in entry.batches.items() if r.state is BatchState.DELIVERED)
        if entry.batches:
            self.log.info(
                "Resuming from the send ledger %s: %d batch(es) delivered by earlier tries (%s) are not sent again",
                self.ledger.head_key,
                len(done),
                ", ".join(map(str, done)) or "none",
            )

    def _stopped(
        self,
        report: DeliveryReport,
        number: int,
        error: BaseException,
        *,
        retryable: bool,
        reached: bool = False,
        entry: LedgerEntry | None = None,
    ) -> BaseException:
        """
        The error that ends this try at batch ``number``: as it is when nobody was reached yet.
        ``reached``: batch ``number`` itself was delivered (it is in the report already).
        ``entry``: the ledger as this try read it. A later batch that an earlier try delivered, or
        may have, is counted so, never as not reached (a person re-sending to "not reached" would
        call those people twice).
        """
        unknown = isinstance(error, TaqnyatDeliveryUnknownError)
        later: list[str] = []
        earlier_tries: list[BatchOutcome] = []
        for later_number, batch in enumerate(self.batches[number:], start=number + 1):
            record = None if entry is None else entry.batches.get(later_number)
            if record is not None and record.state is BatchState.DELIVERED:
                earlier_tries.append(
                    BatchOutcome(
                        later_number, batch, BatchState.DELIVERED, record.result(batch), record.try_number
                    )
                )
            elif record is not None and record.state.uncertain:
                earlier_tries.append(
                    BatchOutcome(later_number, batch, BatchState.UNKNOWN, None, record.try_number)
                )
            else:
                later.extend(batch)
        if not report.delivered and not report.maybe_reached and not unknown and not earlier_tries:
            return error
        current = [] if reached else self.batches[number - 1]
        kind: type[IncompleteDeliveryError] = (
            DeliveryInterruptedError if retryable else IncompleteDeliveryError
        )
        if unknown:
            if not report.delivered:
                kind = FirstBatchUnknownError
            # The batch whose answer was lost is reported as such: in the error, the XCom's
            # ``maybe_reached`` and its ``batches``, which then agree.
            outcome = BatchOutcome(number, current, BatchState.UNKNOWN, None, self.ledger.try_number)
            report.outcomes.append(outcome)
        report.outcomes.extend(earlier_tries)
        stopped = kind(
            reached=report.delivered,
            maybe_reached=report.maybe_reached,
            not_reached=([] if unknown else current) + later,
            failed_batch=number,
            total_batches=len(self.batches),
            cause=error,
            partial_result=report.to_xcom(),
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
    "parse_retry_after": "taqnyat_provider.core.retry",
    "Failure": "taqnyat_provider.core.steps",
}


def __getattr__(name: str) -> Any:
    """Names that moved out of this module in 0.2.0 keep working, with a warning."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import warnings

    warnings.warn(
        f"taqnyat_provider.delivery.{name} moved to {_MOVED[name]}.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(_MOVED[name]), name)
