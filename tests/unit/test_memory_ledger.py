"""
The memory send ledger keeps entries as objects, not JSON: what it shows must be exactly what the JSON
path would have stored, a saved entry must not change when the delivery goes on, and a delivery's
own ledger (a hook used outside a task) must end with the same entry as one passed in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import UTC, datetime

from taqnyat_provider.delivery import Delivery
from taqnyat_provider.ledger import (
    BatchRecord,
    BatchState,
    Ledger,
    LedgerEntry,
    MemoryLedgerStore,
    entry_store,
)
from taqnyat_provider.messages import PreparedSend
from taqnyat_provider.retry import RetryPolicy
from taqnyat_provider.steps import Answer, Call, Request, Wait, drive

NUMBERS = [f"96650000000{n}" for n in range(1, 6)]
KEY = "taqnyat_ledger.20260101.abc"
log = logging.getLogger("test")


def prepared() -> PreparedSend:
    return PreparedSend(
        "voiceSend.php/", {"callerId": "966500000009", "audioUrl": "https://a/x.mp3"}, NUMBERS, "a voice call"
    )


class Api:
    def __init__(self):
        self.steps = []

    def __call__(self, step):
        self.steps.append(step)
        if isinstance(step, Wait):
            return None
        if isinstance(step, Call):
            return step.function()
        batch = step.json["recipients"]
        body = {"statusCode": 201, "messageId": f"m-{batch[0][-1]}", "cost": "0.1", "accepted": batch}
        return Answer(201, {}, json.dumps(body).encode())


def without_time(text: str) -> dict:
    data = json.loads(text)
    data.pop("updated")
    return data


class JsonOnly(MemoryLedgerStore):
    """A memory store used only through load/save: the JSON path any other store takes."""

    def load(self, key):
        return super().load(key)

    def save(self, key, value, description):
        super().save(key, value, description)


def test_only_a_plain_memory_store_keeps_objects():
    assert entry_store(MemoryLedgerStore()) is not None
    assert entry_store(JsonOnly()) is None


def test_objects_and_json_end_with_the_same_entry():
    objects, texts = MemoryLedgerStore(), JsonOnly()
    for store in (objects, texts):
        drive(Delivery(prepared(), 2, ledger=Ledger(store, KEY), log=log).steps(), Api())
    assert without_time(objects.entries[KEY]) == without_time(texts.entries[KEY])
    assert LedgerEntry.loads(objects.entries[KEY]).complete


def test_a_memory_store_needs_no_thread_and_json_does():
    for store, blocking in ((MemoryLedgerStore(), False), (JsonOnly(), True)):
        api = Api()
        drive(Delivery(prepared(), 5, ledger=Ledger(store, KEY), log=log).steps(), api)
        calls = [step for step in api.steps if isinstance(step, Call)]
        assert calls and {call.blocking for call in calls} == {blocking}


def test_a_saved_entry_does_not_follow_later_changes():
    store = MemoryLedgerStore()
    entry = LedgerEntry("d", 2, 0)
    entry.batches[1] = BatchRecord(BatchState.IN_FLIGHT, 1)
    store.save_entry(KEY, entry, datetime(2026, 1, 1, tzinfo=UTC))
    entry.batches[2] = BatchRecord(BatchState.IN_FLIGHT, 1)
    entry.complete = True
    loaded = store.load_entry(KEY)
    assert isinstance(loaded, LedgerEntry)
    loaded.batches.clear()  # a later try's copy, not the stored one
    assert list(store.load_entry(KEY).batches) == [1]
    # Read as text, it becomes text (as any store would have it), and later loads parse that.
    stored = LedgerEntry.loads(store.entries[KEY])
    assert list(stored.batches) == [1] and not stored.complete
    assert store.load_entry(KEY) == store.entries[KEY]


def test_text_written_into_a_memory_store_is_read_as_text():
    store = MemoryLedgerStore()
    store.entries[KEY] = "not json"
    assert store.load_entry(KEY) == "not json" == store.load(KEY)


def test_a_delivery_without_a_ledger_keeps_the_same_entry_without_ledger_steps():
    api = Api()
    delivery = Delivery(prepared(), 2, log=log)
    report = drive(delivery.steps(), api)
    assert [type(step) for step in api.steps] == [Request, Request, Request]
    assert report.accepted == NUMBERS
    own = delivery.ledger.store.entries[delivery.ledger.key]
    passed = MemoryLedgerStore()
    drive(Delivery(prepared(), 2, ledger=Ledger(passed, delivery.ledger.key), log=log).steps(), Api())
    assert without_time(own) == without_time(passed.entries[delivery.ledger.key])
    assert json.loads(own)["digest"] == prepared().digest(2)


def test_the_async_hook_runs_non_blocking_calls_on_the_loop_and_blocking_ones_off_it():
    from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook

    hook = TaqnyatAsyncHook(retry_policy=RetryPolicy(max_attempts=1))

    async def threads():
        here = threading.get_ident()
        inline = await hook._perform(Call(threading.get_ident, blocking=False))
        off = await hook._perform(Call(threading.get_ident))
        await hook.close()
        return here, inline, off

    here, inline, off = asyncio.run(threads())
    assert inline == here != off
