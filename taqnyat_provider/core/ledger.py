"""
The send ledger: what one send did, batch by batch, kept where it outlives a try and a worker.

Before each POST the delivery engine records "batch k in flight"; after it, "delivered" (message
id, cost, rejected numbers), "not sent" (the request provably was not processed), "refused" (an API
error code: nothing was processed) or "unknown". A later try of the same task reads the entry and
skips what was delivered, sends what never was, and stops at what may have been
(:mod:`taqnyat_provider.core.delivery` decides; this module only keeps the record).

An entry is one small **header** key and one key **per batch**, so a send writes bytes linear in its
size and never rewrites what it wrote before::

    <space>                  the header: digest, batch count, round, status ("sending", "complete"),
                             and once complete the record of the last batch its try sent (``last``)
    <space>.batch.00001      batch 1: state, try, message id, cost, rejected numbers
    <space>.batch.00002      ...

A record a person wrote (resolving a batch) carries no round: the try that reads it gives it the
send's round, so that a later round never takes it for its own.

Each write also says which batch is about to go out next (``next``): "batch k delivered" and
"batch k+1 in flight" are one write, so a send costs one durable write per batch — the floor of any
crash-safe design (the in-flight record must be durable before the POST) — plus the header once
before the first POST. The last batch a try sends is recorded *in the header* (``last``), in the
same write that marks the send complete: n + 1 writes for n batches, on any store, each of one key
(all or none without a transaction). A batch that no key names yet, but that the header's or the
previous batch's ``next`` names, was in flight.

``round`` is the epoch in which the send began: a cleared task that sends again starts a new round,
and records of an older round are ignored (and overwritten as the new round goes).

The entry holds a keyed digest of the send (HMAC-SHA256 under a key derived from the connection's
token, so the entry alone does not give away who was called) and the made-up fields a later try
must reuse (a scheduled SMS's ``deleteId``). The only phone numbers it stores are rejected ones, and
accepted ones only when the API's set differs from "batch minus rejected". Never the token.

Where entries live is a :class:`LedgerStore` (Airflow's task state store or Variables, see
:mod:`taqnyat_provider.ledger_stores`; a hook used on its own keeps nothing). A store's ``get``
returns None only when the key is absent: any other failure raises, and the send stops (a ledger
read as empty would send everyone again). No Airflow and no I/O here.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from taqnyat_provider.core.sending import SendResult

FORMAT_VERSION = 2
DEFAULT_RETENTION_DAYS = 30
SENDING, COMPLETE = "sending", "complete"
VARIABLE_PREFIX = "taqnyat_ledger."


class BatchState(str, enum.Enum):
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    NOT_SENT = "not_sent"
    REFUSED = "refused"
    UNKNOWN = "unknown"

    @property
    def uncertain(self) -> bool:
        """The batch may have reached people: a try ended with it in flight, or its answer was lost."""
        return self in (BatchState.IN_FLIGHT, BatchState.UNKNOWN)


class LedgerStore(Protocol):
    """
    Durable key → JSON object storage, shared by every try of one task instance.

    ``get`` returns None only for a key that does not exist and raises on any other failure.
    ``put`` writes one key durably before it returns. ``keep`` asks the store to keep the key until
    somebody deletes it (an unfinished send must outlive any cleanup); otherwise the store's own
    retention applies. ``blocking`` says whether a call does I/O (the async hook then runs it in a
    thread).

    One method is optional, and the delivery engine uses it when a store has it: ``holding()``, a
    context manager the whole send runs in, so that the store can share what its calls need (one
    database connection) instead of setting it up for each call.
    """

    blocking: bool

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any], *, keep: bool) -> None: ...


class MemoryLedgerStore:
    """Entries in memory, as JSON text like a durable store keeps them: for tests and tools."""

    blocking = False

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.kept: dict[str, bool] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        text = self.values.get(key)
        return None if text is None else json.loads(text)  # type: ignore[no-any-return]

    def put(self, key: str, value: dict[str, Any], *, keep: bool) -> None:
        self.values[key] = json.dumps(value, separators=(",", ":"))
        self.kept[key] = keep


def ledger_secret(token: str) -> bytes:
    """
    The key of the entry's digest, derived from the connection's token.

    Whoever can read the ledger but not the connection cannot test guesses of who was called
    against the digest. A rotated token changes it: a try after the rotation cannot match an
    earlier try's entry and stops before sending (see :class:`LedgerMismatchError`).
    """
    return hmac.new(b"taqnyat send ledger v2", token.encode(), hashlib.sha256).digest()


def key_id(secret: bytes) -> str:
    """A short, one-way name of the digest key: tells "token rotated" from "send changed"."""
    return hmac.new(secret, b"key id", hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class Ledger:
    """
    Where one send's entry is kept, and which try writes it.

    ``space`` prefixes the entry's keys. ``epoch`` is the task instance's ``max_tries`` when it
    runs: a retry keeps it, and clearing a task raises it (Airflow sets ``max_tries = try_number +
    retries``). That is how a later try tells "retry of this send" from "cleared to send again".
    ``secret`` keys the digest (:func:`ledger_secret`). A ``private`` ledger (a hook used outside a
    task) has no reader but its writer: nothing is read or written.
    """

    store: LedgerStore
    space: str
    epoch: int = 0
    try_number: int = 1
    label: str = ""
    secret: bytes = field(default=b"", repr=False)
    private: bool = False
    where: str = ""  # how a person finds the entry (the Storage tab, a Variable): for error messages

    @classmethod
    def in_memory(cls) -> Ledger:
        return cls(MemoryLedgerStore(), "taqnyat.send", private=True)

    @property
    def head_key(self) -> str:
        return self.space

    def batch_key(self, number: int) -> str:
        return f"{self.space}.batch.{number:05d}"


@dataclass
class BatchRecord:
    state: BatchState
    try_number: int
    message_id: str | None = None
    rejected: list[str] = field(default_factory=list)
    accepted: list[str] | None = None  # kept only when the API's set differs from "batch minus rejected"
    cost: str | None = None
    currency: str | None = None
    round: int | None = None  # None: written by a person, who belongs to the current round
    next: int | None = None  # the batch this try was about to send when it wrote this record

    @classmethod
    def delivered(cls, result: SendResult, batch: list[str], try_number: int) -> BatchRecord:
        rejected = set(result.rejected)
        derived = {number for number in batch if number not in rejected}
        accepted = None if set(result.accepted) == derived else list(result.accepted)
        return cls(
            BatchState.DELIVERED,
            try_number,
            result.message_id,
            list(result.rejected),
            accepted,
            None if result.cost is None else str(result.cost),
            result.currency,
        )

    def result(self, batch: list[str]) -> SendResult:
        """The delivered batch's outcome, as the try that sent it read it."""
        rejected = set(self.rejected)
        return SendResult(
            message_id=self.message_id,
            accepted=list(self.accepted)
            if self.accepted is not None
            else [n for n in batch if n not in rejected],
            rejected=list(self.rejected),
            cost=None if self.cost is None else Decimal(self.cost),
            currency=self.currency,
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"state": self.state.value, "try": self.try_number, "round": self.round}
        for name in ("message_id", "cost", "currency", "next"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.rejected:
            data["rejected"] = self.rejected
        if self.accepted is not None:
            data["accepted"] = self.accepted
        return data

    @classmethod
    def from_dict(cls, data: Any) -> BatchRecord:
        """Read a record, also one a person wrote by hand (``{"state": "not_sent"}`` is enough)."""
        if not isinstance(data, dict):
            raise ValueError(f"a batch record is a JSON object, got {type(data).__name__}")
        state = data.get("state")
        try:
            parsed = BatchState(state)
        except ValueError:
            choices = ", ".join(repr(s.value) for s in BatchState)
            raise ValueError(f"a batch's state is one of {choices}, got {state!r}") from None
        round_ = data.get("round")
        following = data.get("next")
        return cls(
            parsed,
            int(data.get("try") or 0),
            None if data.get("message_id") is None else str(data["message_id"]),
            [str(n) for n in data.get("rejected") or []],
            None if data.get("accepted") is None else [str(n) for n in data["accepted"]],
            None if data.get("cost") is None else str(data["cost"]),
            None if data.get("currency") is None else str(data["currency"]),
            None if round_ is None else int(round_),
            None if following is None else int(following),
        )


@dataclass
class LedgerEntry:
    """One send's record as a try sees it: the header's fields and each batch's record."""

    digest: str
    key_id: str
    total_batches: int
    round: int
    epoch: int
    label: str = ""
    generated: dict[str, Any] = field(default_factory=dict)
    batches: dict[int, BatchRecord] = field(default_factory=dict)
    complete: bool = False
    stored: bool = False  # whether the header was read from the store (else it must be written)
    last: int | None = None  # the batch whose record the complete header carries (``last``)

    def complete_with(self, number: int, record: BatchRecord) -> None:
        """Complete, the header carrying batch ``number``'s record (``last``)."""
        self.batches[number], self.last, self.complete = record, number, True

    def uncertain_batches(self) -> list[int]:
        return sorted(number for number, record in self.batches.items() if record.state.uncertain)

    def header(self, next_batch: int | None, updated: str) -> dict[str, Any]:
        """
        The header's value. A complete header carries the record of the last batch its try sent
        (``last``): that record and "complete" are one write, of one key.
        """
        # What a person reading the Storage tab looks for comes first: its viewer shows a few lines.
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "send": self.label,
            "status": COMPLETE if self.complete else SENDING,
        }
        if self.complete and self.last is not None:
            data["last"] = {"batch": self.last, **self.batches[self.last].to_dict()}
        data.update(
            total_batches=self.total_batches,
            round=self.round,
            epoch=self.epoch,
            updated=updated,
        )
        if next_batch is not None:
            data["next"] = next_batch
        data.update(digest=self.digest, key_id=self.key_id, generated=self.generated)
        return data

    @classmethod
    def from_header(cls, data: Any) -> tuple[LedgerEntry, int | None]:
        """
        The entry a header describes and the batch it names as next. Its batches: only the one a
        complete header carries (``last``), newer than any key of that batch.
        """
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a version-{FORMAT_VERSION} send ledger header")
        following = data.get("next")
        entry = cls(
            digest=str(data["digest"]),
            key_id=str(data.get("key_id", "")),
            total_batches=int(data["total_batches"]),
            round=int(data["round"]),
            epoch=int(data["epoch"]),
            label=str(data.get("send", "")),
            generated=dict(data.get("generated") or {}),
            complete=data.get("status") == COMPLETE,
            stored=True,
        )
        last = data.get("last")
        if entry.complete and last is not None:
            if not isinstance(last, dict):
                raise ValueError(f"the header's last batch is a JSON object, got {type(last).__name__}")
            entry.last = int(last["batch"])
            entry.batches[entry.last] = BatchRecord.from_dict(last)
        return entry, None if following is None else int(following)

    def mark_in_flight(self, markers: list[tuple[int | None, int]]) -> None:
        """
        Batches that no record names, but that a record written before their POST names as
        ``next`` (with that record's try), were in flight when that try last wrote.
        """
        for following, try_number in markers:
            if (
                following is not None
                and following not in self.batches
                and 1 <= following <= self.total_batches
            ):
                self.batches[following] = BatchRecord(BatchState.IN_FLIGHT, try_number, round=self.round)


def digest(canonical: str, secret: bytes) -> str:
    """The send's digest: HMAC-SHA256 of its canonical form under ``secret``."""
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def variable_space(*, dag_id: str, run_id: str, task_id: str, map_index: int, scope: str = "send") -> str:
    """
    The entry's key prefix among Airflow Variables (Airflow before 3.3): a hash of who sends.

    Variable keys are at most 250 characters and run ids can be long, hence the hash.
    """
    who = json.dumps([dag_id, run_id, task_id, map_index, scope], separators=(",", ":"))
    return f"{VARIABLE_PREFIX}{hashlib.sha256(who.encode()).hexdigest()[:40]}"
