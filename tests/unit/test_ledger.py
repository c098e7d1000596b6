from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from taqnyat_provider.ledger import (
    KEY_PREFIX,
    BatchRecord,
    BatchState,
    LedgerEntry,
    expired_keys,
    ledger_key,
)
from taqnyat_provider.responses import SendResult


def test_keys_are_short_stable_and_dated():
    args = dict(dag_id="d" * 250, run_id="manual__2026-01-01T00:00:00+00:00", task_id="t", map_index=3)
    key = ledger_key(day=date(2026, 1, 2), **args)
    assert key == ledger_key(day=date(2026, 1, 2), **args)
    assert key.startswith(f"{KEY_PREFIX}20260102.") and len(key) < 100
    assert key != ledger_key(day=date(2026, 1, 2), **{**args, "map_index": 4})
    assert key != ledger_key(day=date(2026, 1, 2), scope="notify", **args)


def test_expired_keys_are_found_by_key_alone():
    keys = [
        ledger_key(dag_id="d", run_id="r", task_id="t", map_index=-1, day=date(2026, 1, 1)),
        ledger_key(dag_id="d", run_id="r", task_id="t", map_index=-1, day=date(2026, 2, 1)),
        f"{KEY_PREFIX}garbage",
        "someone_elses_variable",
    ]
    assert expired_keys(keys, date(2026, 2, 5), retention_days=30) == [keys[0]]
    assert expired_keys(keys, date(2026, 3, 5), retention_days=30) == keys[:2]


def test_an_entry_round_trips():
    result = SendResult("m1", ["1"], ["2"], Decimal("0.216"), "SAR")
    entry = LedgerEntry("digest", 2, epoch=3, label="d/r/t", generated={"deleteId": 7})
    entry.batches[1] = BatchRecord.delivered(result, ["1", "2"], try_number=1)
    entry.batches[2] = BatchRecord(BatchState.IN_FLIGHT, 2)
    again = LedgerEntry.loads(entry.dumps(datetime(2026, 1, 1, tzinfo=UTC)))
    assert again == entry
    assert again.batches[1].result(["1", "2"]) == SendResult("m1", ["1"], ["2"], Decimal("0.216"), "SAR")
    assert again.uncertain_batches() == [2]
    # Accepted numbers are derived from the batch, not stored, unless the API said otherwise.
    assert again.batches[1].accepted is None


def test_forgetting_a_finished_send_removes_it_and_every_expired_entry():
    import logging

    from taqnyat_provider.ledger import Ledger, MemoryLedgerStore
    from taqnyat_provider.ledger_variables import forget

    today = datetime.now(UTC).date()
    store = MemoryLedgerStore()
    old = ledger_key(dag_id="d", run_id="old", task_id="t", map_index=-1, day=date(2000, 1, 1))
    recent = ledger_key(dag_id="d", run_id="recent", task_id="t", map_index=-1, day=today)
    mine = ledger_key(dag_id="d", run_id="mine", task_id="t", map_index=-1, day=today)
    for key in (old, recent, mine, "other_variable"):
        store.entries[key] = "{}"
    forget(Ledger(store, mine), logging.getLogger("test"), retention_days=30)
    assert sorted(store.entries) == sorted([recent, "other_variable"])
