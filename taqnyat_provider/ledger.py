"""
The send ledger: what one send did, batch by batch, kept where it outlives a try and a worker.

Before each POST the delivery engine records "batch k in flight"; after it, "delivered" (message
id, cost, rejected numbers), "not sent" (the request provably was not processed), "refused" (an API
error code: nothing was processed) or "unknown". A later try of the same task reads the entry and
skips what was delivered, sends what never was, and stops at what may have been
(:mod:`taqnyat_provider.delivery` decides; this module only keeps the record).

An entry holds a digest of the send (never its body or recipients), the made-up fields a later try
must reuse (a scheduled SMS's ``deleteId``) and, per batch, only what the final result needs: the
rejected numbers are the only phone numbers it stores. Never the token.

Where entries live is a :class:`LedgerStore`: the operators use Airflow Variables
(:mod:`taqnyat_provider.ledger_variables`), and a hook used on its own keeps them in memory. The
memory store keeps each entry as a copy of the object rather than its JSON text (written out only
when someone reads the text), so a 1,000-batch send does not serialize its growing entry 2,000
times. No Airflow and no I/O here.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections import UserDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from taqnyat_provider.responses import SendResult

FORMAT_VERSION = 1
KEY_PREFIX = "taqnyat_ledger."
DEFAULT_RETENTION_DAYS = 30


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
    Durable key → JSON text storage (Airflow Variables, or memory).

    A store that can also list its keys (``keys(prefix)``) gets old entries removed (see retention).
    """

    def load(self, key: str) -> str | None: ...

    def save(self, key: str, value: str, description: str) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryLedgerStore:
    """
    Entries in memory: for a hook used outside a task, and for tests.

    ``entries`` maps each key to the entry's JSON text, as any store does. The delivery engine
    saves here through :meth:`save_entry` and reads through :meth:`load_entry` instead (see
    :func:`entry_store`): a copy of the entry object, turned into text only when ``entries`` is read.
    Reads and writes never block, so the async hook runs them on the event loop (``blocking``).
    """

    blocking = False

    def __init__(self) -> None:
        self.entries: _EntryTexts = _EntryTexts()

    def load(self, key: str) -> str | None:
        return self.entries.get(key)

    def save(self, key: str, value: str, description: str) -> None:
        self.entries[key] = value

    def delete(self, key: str) -> None:
        self.entries.pop(key, None)

    def keys(self, prefix: str) -> list[str]:
        return [key for key in self.entries if key.startswith(prefix)]

    def load_entry(self, key: str) -> LedgerEntry | str | None:
        """The entry saved by :meth:`save_entry` (a copy), or the text ``save`` stored, or None."""
        value = self.entries.data.get(key)
        return value.entry.copy() if isinstance(value, _Snapshot) else value

    def save_entry(self, key: str, entry: LedgerEntry, now: datetime) -> None:
        """Keep a copy of ``entry`` as it is now; its text is what ``entry.dumps(now)`` gives."""
        self.entries.data[key] = _Snapshot(entry.copy(), now)  # type: ignore[assignment]

    def keep_entry(self, key: str, entry: LedgerEntry, now: datetime, digest: Callable[[], str]) -> None:
        """
        Keep ``entry`` itself, for a store only its writer uses while it writes (a delivery's own).

        Its writer saves after every change, so at any moment nobody else can look the entry is
        what a copy would be. Its ``digest``, when empty, is worked out only if the text is read.
        """
        self.entries.data[key] = _Snapshot(entry, now, digest)  # type: ignore[assignment]


def entry_store(store: LedgerStore) -> MemoryLedgerStore | None:
    """
    ``store`` when entries may be kept there as objects: a memory store whose ``load`` and ``save``
    are its own. A subclass that changes them (a test's failing store, say) is used through them.
    """
    if not isinstance(store, MemoryLedgerStore):
        return None
    kind = type(store)
    if kind.load is not MemoryLedgerStore.load or kind.save is not MemoryLedgerStore.save:
        return None
    return store


@dataclass(frozen=True)
class Ledger:
    """
    Where one send's entry is kept, and which try writes it.

    ``epoch`` is the task instance's ``max_tries`` when it runs: a retry keeps it, and clearing a
    task raises it (Airflow sets ``max_tries = try_number + retries``). That is how a later try
    tells "retry of this send" from "the user cleared the task to send again".
    """

    store: LedgerStore
    key: str
    epoch: int = 0
    try_number: int = 1
    label: str = ""

    @classmethod
    def in_memory(cls) -> Ledger:
        return cls(MemoryLedgerStore(), f"{KEY_PREFIX}memory")


@dataclass
class BatchRecord:
    state: BatchState
    try_number: int
    message_id: str | None = None
    rejected: list[str] = field(default_factory=list)
    accepted: list[str] | None = None  # kept only when the API's list differs from "batch minus rejected"
    cost: str | None = None
    currency: str | None = None

    @classmethod
    def delivered(cls, result: SendResult, batch: list[str], try_number: int) -> BatchRecord:
        rejected = set(result.rejected)
        derived = [number for number in batch if number not in rejected] if rejected else batch
        return cls(
            BatchState.DELIVERED,
            try_number,
            result.message_id,
            list(result.rejected),
            None if result.accepted == derived else list(result.accepted),
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
        data: dict[str, Any] = {"state": self.state.value, "try": self.try_number}
        for name in ("message_id", "cost", "currency"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.rejected:
            data["rejected"] = self.rejected
        if self.accepted is not None:
            data["accepted"] = self.accepted
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRecord:
        return cls(
            BatchState(data["state"]),
            int(data.get("try", 0)),
            data.get("message_id"),
            list(data.get("rejected", [])),
            data.get("accepted"),
            data.get("cost"),
            data.get("currency"),
        )


@dataclass
class LedgerEntry:
    """One send's record: the send's digest and each batch's state."""

    digest: str
    total_batches: int
    epoch: int
    label: str = ""
    generated: dict[str, Any] = field(default_factory=dict)
    batches: dict[int, BatchRecord] = field(default_factory=dict)
    complete: bool = False

    def uncertain_batches(self) -> list[int]:
        return sorted(number for number, record in self.batches.items() if record.state.uncertain)

    def copy(self) -> LedgerEntry:
        """
        A copy that shares nothing mutable with this one but the batch records.

        The delivery engine replaces a batch's record rather than changing it, so sharing them is
        safe; what it does change (the dict of batches, ``generated``, the flags) is copied.
        """
        return LedgerEntry(
            self.digest,
            self.total_batches,
            self.epoch,
            self.label,
            dict(self.generated),
            dict(self.batches),
            self.complete,
        )

    def dumps(self, now: datetime) -> str:
        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "send": self.label,
                "digest": self.digest,
                "total_batches": self.total_batches,
                "epoch": self.epoch,
                "complete": self.complete,
                "generated": self.generated,
                "updated": now.isoformat(timespec="seconds"),
                "batches": {str(number): record.to_dict() for number, record in sorted(self.batches.items())},
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> LedgerEntry:
        """Read an entry; raises ValueError (or KeyError/TypeError) when it is not one this code wrote."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a version-{FORMAT_VERSION} send ledger entry")
        return cls(
            digest=str(data["digest"]),
            total_batches=int(data["total_batches"]),
            epoch=int(data["epoch"]),
            label=str(data.get("send", "")),
            generated=dict(data.get("generated") or {}),
            batches={int(k): BatchRecord.from_dict(v) for k, v in dict(data["batches"]).items()},
            complete=bool(data["complete"]),
        )


def ledger_key(
    *, dag_id: str, run_id: str, task_id: str, map_index: int, day: date, scope: str = "send"
) -> str:
    """
    The entry's key: the run's date (so old entries can be found by key alone) and a hash of who sends.

    Airflow Variable keys are at most 250 characters and run ids can be long, hence the hash.
    """
    who = json.dumps([dag_id, run_id, task_id, map_index, scope], separators=(",", ":"))
    return f"{KEY_PREFIX}{day:%Y%m%d}.{hashlib.sha256(who.encode()).hexdigest()[:40]}"


def expired_keys(keys: Iterable[str], today: date, retention_days: int) -> list[str]:
    """The ledger keys whose run is older than ``retention_days``; keys not written by us are left alone."""
    oldest = today - timedelta(days=retention_days)
    expired = []
    for key in keys:
        if not key.startswith(KEY_PREFIX):
            continue
        try:
            day = datetime.strptime(key[len(KEY_PREFIX) :].split(".", 1)[0], "%Y%m%d").date()
        except ValueError:
            continue
        if day < oldest:
            expired.append(key)
    return expired


class _Snapshot:
    """An entry kept by :meth:`MemoryLedgerStore.save_entry`, and when it was saved."""

    __slots__ = ("digest", "entry", "saved")

    def __init__(self, entry: LedgerEntry, saved: datetime, digest: Callable[[], str] | None = None) -> None:
        self.entry = entry
        self.saved = saved
        self.digest = digest

    def text(self) -> str:
        if not self.entry.digest and self.digest is not None:
            self.entry.digest = self.digest()
        return self.entry.dumps(self.saved)

    def __repr__(self) -> str:
        return repr(self.text())


class _EntryTexts(UserDict[str, str]):
    """Key → JSON text, where a value saved as a snapshot becomes text when it is first read."""

    def __getitem__(self, key: str) -> str:
        value: Any = self.data[key]
        if isinstance(value, _Snapshot):
            value = self.data[key] = value.text()
        return value  # type: ignore[no-any-return]
