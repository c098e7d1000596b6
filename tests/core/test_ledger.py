"""
The send ledger's layout and costs, on each store: one write per batch, bytes linear in the send,
what is kept and for how long, the keyed digest, a failed "delivered" write, a person resolving an
unknown batch, and every crash point between "in flight" and "delivered" on the Airflow stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from decimal import Decimal

import pytest

from taqnyat_provider import ledger_stores
from taqnyat_provider.core.delivery import Delivery
from taqnyat_provider.core.ledger import (
    BatchRecord,
    Ledger,
    MemoryLedgerStore,
    key_id,
    ledger_secret,
    variable_space,
)
from taqnyat_provider.core.retry import RetryPolicy
from taqnyat_provider.core.sending import SendResult
from taqnyat_provider.core.steps import Call, Request, Wait, drive
from taqnyat_provider.exceptions import (
    DeliveryInterruptedError,
    IncompleteDeliveryError,
    LedgerMismatchError,
    UnresolvedDeliveryError,
)
from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS
from tests.core.test_delivery import NUMBERS, Api, prepared

log = logging.getLogger("test")
POLICY = RetryPolicy(max_attempts=2, backoff_seconds=0)
SECRET = ledger_secret("token-1")
SPACE = "taqnyat.send"


class FakeAccessor:
    """Airflow's TaskStateStoreAccessor as the task sees it: JSON values, retention per key."""

    def __init__(self):
        self.rows: dict[str, tuple[str, object]] = {}

    def get(self, key, default=None):
        return json.loads(self.rows[key][0]) if key in self.rows else default

    def set(self, key, value, *, retention=None):
        self.rows[key] = (json.dumps(value), retention)


class VariableTable(dict):
    """The Variables store's two I/O functions over a dict (the metadata database)."""

    def read(self, key):
        return self.get(key)

    def write(self, key, text, description=None):
        self[key] = text
        self.descriptions = {**getattr(self, "descriptions", {}), key: description}


def task_state_store():
    pytest.importorskip("airflow.sdk.execution_time.context", reason="the task state store is Airflow 3.3's")
    return ledger_stores.TaskStateLedgerStore(FakeAccessor())


@pytest.fixture
def variables(monkeypatch):
    table = VariableTable()
    monkeypatch.setattr(ledger_stores, "_read_variable", table.read)
    monkeypatch.setattr(ledger_stores, "_write_variable", table.write)
    return table


@pytest.fixture(params=["memory", "task_state_store", "variables"])
def store(request, monkeypatch):
    if request.param == "memory":
        return MemoryLedgerStore()
    if request.param == "task_state_store":
        return task_state_store()
    table = VariableTable()
    monkeypatch.setattr(ledger_stores, "_read_variable", table.read)
    monkeypatch.setattr(ledger_stores, "_write_variable", table.write)
    return ledger_stores.VariableLedgerStore()


def run(
    store,
    api,
    *,
    batch_size=1,
    epoch=0,
    try_number=1,
    on_unknown="fail",
    send=None,
    secret=SECRET,
    space=SPACE,
):
    delivery = Delivery(
        send or prepared(),
        batch_size,
        ledger=Ledger(store, space, epoch=epoch, try_number=try_number, secret=secret),
        on_unknown=on_unknown,
        policy=POLICY,
        log=log,
    )
    return delivery, drive(delivery.steps(), api)


class Counting:
    """Wraps a store: counts and sizes each write, can fail chosen writes."""

    def __init__(self, inner, fail_on=()):
        self.inner, self.fail_on = inner, list(fail_on)
        self.blocking = inner.blocking
        self.writes: list[tuple[str, dict, bool]] = []

    def get(self, key):
        return self.inner.get(key)

    def _fail(self, key, value):
        for predicate in self.fail_on:
            if predicate(key, value):
                raise OSError("API server: 503")

    def put(self, key, value, *, keep):
        self._fail(key, value)
        self.writes.append((key, json.loads(json.dumps(value)), keep))
        self.inner.put(key, value, keep=keep)


# --------------------------------------------------------------------------------------------------
# Cost: one durable write per batch, bytes linear in the send


def test_a_send_of_n_batches_writes_n_plus_1_times_each_of_one_key(store):
    counting = Counting(store)
    many = [f"9665000{n:05d}" for n in range(50)]
    delivery, report = run(counting, Api(), send=prepared(many), batch_size=5)
    assert report.accepted == many
    keys = [key for key, _, _ in counting.writes]
    # The header (naming batch 1 as next), batches 1..9 (each naming the next), then the header
    # marked complete, carrying batch 10's record: "delivered" and "complete" in one write.
    assert keys == [SPACE, *(f"{SPACE}.batch.{n:05d}" for n in range(1, 10)), SPACE]
    assert [value.get("next") for _, value, _ in counting.writes] == [*range(1, 11), None]
    assert delivery.writes == 11
    header = counting.writes[-1][1]
    assert header["status"] == "complete"
    assert header["last"] == {
        "batch": 10,
        "state": "delivered",
        "try": 1,
        "round": 0,
        "message_id": "m-5",
        "cost": "0.5",
        "currency": "SAR",
    }
    assert counting.inner.get(f"{SPACE}.batch.00010") is None
    kept = sum(
        len(json.dumps(value, separators=(",", ":")))
        for value in {k: v for k, v, _ in counting.writes}.values()
    )
    assert delivery.bytes_written <= 2 * kept
    # A retry reads the header's record as batch 10's: it replays the whole send, sending nothing.
    api = Api()
    _, again = run(store, api, send=prepared(many), batch_size=5, try_number=2)
    assert api.sent == [] and again.to_xcom() == report.to_xcom()


def test_bytes_written_grow_linearly_not_quadratically():
    sizes = {}
    for batches in (10, 100, 1000):
        numbers = [f"9665{n:08d}" for n in range(batches)]
        delivery, _ = run(MemoryLedgerStore(), Api(), send=prepared(numbers))
        sizes[batches] = delivery.bytes_written
    assert sizes[1000] / sizes[100] < 11 and sizes[100] / sizes[10] < 11


def test_a_resumed_send_folds_its_own_last_batch_with_complete(store):
    counting = Counting(store)
    with pytest.raises(DeliveryInterruptedError):
        run(counting, Api({NUMBERS[2]: [_429()] * 2}))  # batches 1-2 delivered, 3 not sent
    counting.writes.clear()
    api = Api()
    _, report = run(counting, api, try_number=2)
    assert api.numbers == NUMBERS[2:] and report.accepted == NUMBERS
    batch = [f"{SPACE}.batch.{n:05d}" for n in range(1, 5)]
    # Batch 3 has an earlier try's record, so no earlier write could name it: its own "in flight".
    assert [key for key, _, _ in counting.writes] == [batch[2], batch[2], SPACE]
    assert counting.writes[-1][1]["last"]["batch"] == 4
    again = Api()
    _, replayed = run(store, again, try_number=3)
    assert again.sent == [] and replayed.to_xcom() == report.to_xcom()  # complete: replayed


def test_the_account_line_says_writes_and_bytes(caplog):
    with caplog.at_level(logging.INFO, logger="test"):
        delivery, _ = run(MemoryLedgerStore(), Api())
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Send ledger:")]
    # Four batches: the header, batches 1-3, then the header complete carrying batch 4.
    assert (
        line
        == f"Send ledger: 5 writes, {delivery.bytes_written} bytes written, {sum(delivery._kept.values())} bytes kept"
    )


def test_a_delivery_without_a_ledger_has_no_ledger_steps():
    steps = []

    def api(step):
        steps.append(step)
        return Api()(step)

    report = drive(Delivery(prepared(), 2, log=log).steps(), api)
    assert [type(step) for step in steps] == [Request, Request]
    assert report.accepted == NUMBERS


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


# --------------------------------------------------------------------------------------------------
# Retention


def test_rows_of_a_send_under_way_are_kept_and_only_the_complete_header_expires():
    store = task_state_store()
    accessor = store.accessor
    from airflow.sdk.execution_time.context import NEVER_EXPIRE

    run(store, Api(), batch_size=2)
    assert accessor.rows[SPACE][1] is None  # Airflow's default retention for the complete header
    assert all(retention is NEVER_EXPIRE for key, (_, retention) in accessor.rows.items() if key != SPACE)
    header = json.loads(accessor.rows[SPACE][0])
    assert header["status"] == "complete" and header["last"]["batch"] == 2


def test_an_unknown_batch_stays_kept():
    store = task_state_store()
    accessor = store.accessor
    from airflow.sdk.execution_time.context import NEVER_EXPIRE

    with pytest.raises(IncompleteDeliveryError):
        run(store, Api({NUMBERS[1]: [_dropped()]}))
    assert accessor.rows[SPACE][1] is NEVER_EXPIRE
    assert json.loads(accessor.rows[f"{SPACE}.batch.00002"][0])["state"] == "unknown"
    assert accessor.rows[f"{SPACE}.batch.00002"][1] is NEVER_EXPIRE


# --------------------------------------------------------------------------------------------------
# Crash points on every store


@pytest.mark.parametrize("killed_after", [0, 1, 3])
def test_a_worker_killed_after_a_post_left_never_resends_it_on_any_store(store, killed_after):
    api = Api()
    delivery = Delivery(prepared(), 1, ledger=Ledger(store, SPACE, secret=SECRET), policy=POLICY, log=log)
    steps = delivery.steps()
    step = next(steps)
    while not (isinstance(step, Request) and len(api.sent) == killed_after):
        step = steps.send(api(step))
    api(step)  # the POST leaves; the process dies before the answer is read
    second = Api()
    with pytest.raises(UnresolvedDeliveryError) as raised:
        run(store, second, try_number=2)
    assert second.sent == []
    assert raised.value.maybe_reached == [NUMBERS[killed_after]]
    third = Api()
    run(store, third, try_number=3, on_unknown="skip")
    assert sorted(api.numbers + third.numbers) == NUMBERS


@pytest.mark.parametrize("killed_at_write", range(1, 7))
def test_a_worker_killed_at_any_ledger_write_never_sends_anyone_twice(store, killed_at_write):
    """Die right before the n-th write (the write never lands): whatever was sent is not sent again."""

    class Died(BaseException):
        pass

    writes = []

    class Dying(Counting):
        def put(self, key, value, *, keep):
            writes.append(key)
            if len(writes) == killed_at_write:
                raise Died
            super().put(key, value, keep=keep)

    api = Api()
    with contextlib.suppress(Died):
        run(Dying(store), api)
    second = Api()
    with contextlib.suppress(UnresolvedDeliveryError):
        run(store, second, try_number=2, on_unknown="skip")
    counts = {n: (api.numbers + second.numbers).count(n) for n in NUMBERS}
    assert max(counts.values()) <= 1, counts


# --------------------------------------------------------------------------------------------------
# A "delivered" record that cannot be written


def test_a_delivered_record_is_written_again_before_giving_up(store):
    failures = iter([True])
    counting = Counting(
        store, fail_on=[lambda key, value: value.get("state") == "delivered" and next(failures, False)]
    )
    api = Api()
    _, report = run(counting, api)
    assert report.accepted == NUMBERS and api.numbers == NUMBERS


def test_a_delivered_record_that_cannot_be_written_fails_without_retry_counting_it_reached(store):
    counting = Counting(
        store, fail_on=[lambda key, value: key.endswith("00002") and value.get("state") == "delivered"]
    )
    api = Api()
    waits = []

    def performer(step):
        if isinstance(step, Wait):
            waits.append(step.seconds)
        return api(step)

    delivery = Delivery(prepared(), 1, ledger=Ledger(counting, SPACE, secret=SECRET), policy=POLICY, log=log)
    with pytest.raises(IncompleteDeliveryError) as raised:
        drive(delivery.steps(), performer)
    error = raised.value
    assert not error.retryable and not isinstance(error, DeliveryInterruptedError)
    assert error.reached == NUMBERS[:2]
    assert error.maybe_reached == [] and error.not_reached == NUMBERS[2:]
    assert error.partial_result["message_ids"] == ["m-1", "m-2"]
    assert waits == [0.5, 2.0]
    # A clear later: batch 2 is still "in flight" in the ledger, so it is never re-sent blindly.
    again = Api()
    with pytest.raises(UnresolvedDeliveryError):
        run(store, again, epoch=1, try_number=2)
    assert again.sent == []


def test_the_last_batch_written_with_complete_is_retried_then_fails_counting_it_reached():
    memory = MemoryLedgerStore()
    counting = Counting(memory, fail_on=[lambda key, value: value.get("status") == "complete"])
    api = Api()
    with pytest.raises(IncompleteDeliveryError) as raised:
        run(counting, api)
    error = raised.value
    assert not error.retryable and error.reached == NUMBERS and error.not_reached == []
    # Nothing of the failed write landed: the header still says "sending", and batch 4 is the one
    # batch 3's record named as next, so in flight: a clear sends nobody again blindly.
    assert memory.get(SPACE)["status"] == "sending" and memory.get(f"{SPACE}.batch.00004") is None
    again = Api()
    with pytest.raises(UnresolvedDeliveryError) as unresolved:
        run(memory, again, epoch=1, try_number=2)
    assert again.sent == [] and unresolved.value.batches == [4]


class LandsThenFails(Counting):
    """The final write lands in the store, but the caller sees an error (a timeout after the commit)."""

    def put(self, key, value, *, keep):
        self.inner.put(key, value, keep=keep)
        if key == SPACE and value.get("status") == "complete":
            raise TimeoutError("Execution API: read timed out")


def test_a_final_write_that_landed_though_it_failed_completes_the_send(store):
    """Read back, the header says complete with this batch: the send is done, and a retry replays it."""
    first = Api()
    _, report = run(LandsThenFails(store), first)
    assert first.numbers == NUMBERS and report.accepted == NUMBERS
    again = Api()
    _, replayed = run(store, again, try_number=2)
    assert again.sent == [] and replayed.to_xcom() == report.to_xcom()


def test_a_final_write_whose_read_back_fails_says_how_to_avoid_a_resend(caplog):
    """Neither the write nor the read back answers: the task fails, and the log says what a clear would do."""

    class Unreadable(LandsThenFails):
        def get(self, key):
            if key == SPACE and (self.inner.get(SPACE) or {}).get("status") == "complete":
                raise OSError("API server: 503")
            return self.inner.get(key)

    with caplog.at_level(logging.ERROR, logger="test"), pytest.raises(IncompleteDeliveryError) as raised:
        run(Unreadable(MemoryLedgerStore()), Api())
    assert not raised.value.retryable and raised.value.reached == NUMBERS
    assert 'if it says "complete", a clear of this task sends everyone again' in caplog.text


def test_a_stopped_resumed_send_counts_later_batches_of_earlier_tries_as_reached():
    """Not reached is only who no try sent to: re-sending to it never calls anyone twice."""
    memory = MemoryLedgerStore()
    counting = Counting(
        memory, fail_on=[lambda key, value: key == SPACE and value.get("status") == "complete"]
    )
    # Try 1 (skip): batch 1's answer is lost, batches 2-4 delivered, the complete write fails.
    with pytest.raises(IncompleteDeliveryError):
        run(counting, Api({NUMBERS[0]: [_dropped()]}), on_unknown="skip")
    # A person finds in the archive that batch 1 never went out and that batch 4 did.
    memory.put(f"{SPACE}.batch.00001", {"state": "not_sent"}, keep=True)
    memory.put(f"{SPACE}.batch.00004", {"state": "delivered"}, keep=True)
    # A clear: try 2 sends batch 1 only, and its complete write fails again.
    api = Api()
    with pytest.raises(IncompleteDeliveryError) as raised:
        run(counting, api, epoch=1, try_number=2)
    assert api.numbers == NUMBERS[:1]
    error = raised.value
    assert error.not_reached == [] and sorted(error.reached) == sorted(NUMBERS)
    batches = error.partial_result["batches"]
    assert [(batch["batch"], batch["status"]) for batch in batches] == [(n, "delivered") for n in range(1, 5)]


def _dies_before_posting(store, first_number, *, epoch, try_number):
    """One try whose worker dies right before the POST of the batch that starts with ``first_number``."""
    api = Api()
    delivery = Delivery(
        prepared(),
        1,
        ledger=Ledger(store, SPACE, epoch=epoch, try_number=try_number, secret=SECRET),
        policy=POLICY,
        log=log,
    )
    steps = delivery.steps()
    step = next(steps)
    while not (isinstance(step, Request) and step.json["recipients"][0] == first_number):
        step = steps.send(api(step))
    return api


@pytest.mark.parametrize("later_rounds", [0, 1])
def test_a_hand_resolved_batch_belongs_to_its_round_and_never_covers_a_later_crash(store, later_rounds):
    """
    A person's ``{"state": "delivered"}`` carries no round. The try that reads it gives it its round:
    a later round that dies before that batch's POST finds it unknown, never delivered.
    """
    with pytest.raises(IncompleteDeliveryError):
        run(store, Api({NUMBERS[3]: [_dropped()]}))  # round 0: batch 4's answer is lost
    store.put(f"{SPACE}.batch.00004", {"state": "delivered"}, keep=True)
    resumed = Api()
    run(store, resumed, epoch=1, try_number=2)  # nothing left to send: complete
    assert resumed.sent == [] and store.get(f"{SPACE}.batch.00004")["round"] == 0
    epoch, try_number = 2, 3
    for _ in range(later_rounds):  # a clear that completes: batch 4's record goes into the header
        sent = Api()
        run(store, sent, epoch=epoch, try_number=try_number)
        assert sent.numbers == NUMBERS
        epoch, try_number = epoch + 1, try_number + 1
    died = _dies_before_posting(store, NUMBERS[3], epoch=epoch, try_number=try_number)
    assert died.numbers == NUMBERS[:3]
    retry = Api()
    with pytest.raises(UnresolvedDeliveryError) as raised:
        run(store, retry, epoch=epoch, try_number=try_number + 1)
    assert retry.sent == [] and raised.value.batches == [4]


# --------------------------------------------------------------------------------------------------
# Less personal data


def test_the_digest_is_keyed_and_not_the_plain_hash_of_the_send(store):
    run(store, Api())
    header = store.get(SPACE)
    plain = hashlib.sha256(prepared().canonical(1).encode()).hexdigest()
    assert header["digest"] != plain and len(header["digest"]) == 64
    assert header["key_id"] == key_id(SECRET)
    assert "token-1" not in json.dumps(header)


def test_a_rotated_token_is_named_and_sends_nothing(store):
    with pytest.raises(DeliveryInterruptedError):
        run(store, Api({NUMBERS[2]: [_429()] * 2}))
    api = Api()
    with pytest.raises(LedgerMismatchError, match="token changed"):
        run(store, api, try_number=2, secret=ledger_secret("token-2"))
    assert api.sent == []


def _429():
    from taqnyat_provider.core.steps import Answer

    return Answer(429)


def test_accepted_numbers_in_another_order_are_not_stored():
    result = SendResult("m1", list(reversed(NUMBERS[:3])), [], Decimal("0.3"), "SAR")
    record = BatchRecord.delivered(result, NUMBERS[:3], try_number=1)
    assert record.accepted is None
    assert "accepted" not in record.to_dict()
    # A set that really differs (a number the API did not list) is kept, to be reported as it was.
    partial = BatchRecord.delivered(SendResult("m1", NUMBERS[:2], [], None, None), NUMBERS[:3], 1)
    assert partial.accepted == NUMBERS[:2]


def test_variable_spaces_are_short_stable_and_per_sender():
    args = dict(dag_id="d" * 250, run_id="manual__2026-01-01T00:00:00+00:00", task_id="t", map_index=3)
    space = variable_space(**args)
    assert space == variable_space(**args) and len(f"{space}.batch.00001") < 100
    assert space != variable_space(**{**args, "map_index": 4})
    assert space != variable_space(scope="notify", **args)


# --------------------------------------------------------------------------------------------------
# A person resolves an unknown batch


@pytest.mark.parametrize(("resolution", "resent"), [("delivered", []), ("not_sent", [NUMBERS[1]])])
def test_a_person_marks_an_unknown_batch_and_the_next_clear_follows(store, resolution, resent):
    with pytest.raises(IncompleteDeliveryError):
        run(store, Api({NUMBERS[1]: [_dropped()]}))
    # What the Storage tab's editor (or a PATCH of the REST API, or the Variables page) does:
    record = store.get(f"{SPACE}.batch.00002")
    assert record["state"] == "unknown"
    store.put(f"{SPACE}.batch.00002", {**record, "state": resolution}, keep=True)
    api = Api()
    _, report = run(store, api, epoch=1, try_number=2)  # cleared
    assert api.numbers == resent + NUMBERS[2:]
    assert report.to_xcom()["maybe_reached"] == []


def test_a_hand_written_record_needs_only_its_state(store):
    with pytest.raises(IncompleteDeliveryError):
        run(store, Api({NUMBERS[1]: [_dropped()]}))
    store.put(f"{SPACE}.batch.00002", {"state": "not_sent"}, keep=True)
    api = Api()
    run(store, api, epoch=1, try_number=2)
    assert api.numbers == NUMBERS[1:]


def test_a_mistyped_state_is_named_and_sends_nothing(store):
    with pytest.raises(IncompleteDeliveryError):
        run(store, Api({NUMBERS[1]: [_dropped()]}))
    store.put(f"{SPACE}.batch.00002", {"state": "sent"}, keep=True)
    api = Api()
    with pytest.raises(LedgerMismatchError, match="'sent'"):
        run(store, api, epoch=1, try_number=2)
    assert api.sent == []


def _dropped():
    from taqnyat_provider.core.steps import Failure, TransportError

    return TransportError(Failure.DROPPED, "connection reset after the request")


# --------------------------------------------------------------------------------------------------
# Complete sends: replayed within an epoch, sent again after a clear, on every store


def test_a_complete_send_is_replayed_by_a_retry_and_sent_again_after_a_clear(store):
    _, first = run(store, Api(), batch_size=3)
    api = Api()
    _, again = run(store, api, batch_size=3, try_number=2)
    assert api.sent == [] and again.to_xcom()["message_ids"] == first.to_xcom()["message_ids"]
    cleared = Api()
    run(store, cleared, batch_size=3, epoch=2, try_number=3)
    assert cleared.numbers == NUMBERS
    # The new round's records replace the old round's; a retry of it replays, sending nothing.
    api = Api()
    run(store, api, batch_size=3, epoch=2, try_number=4)
    assert api.sent == []


def test_a_new_round_ignores_an_older_rounds_records_after_a_crash(store):
    run(store, Api())  # round 0, complete: four batch records
    api = Api()
    delivery = Delivery(
        prepared(), 1, ledger=Ledger(store, SPACE, epoch=5, secret=SECRET), policy=POLICY, log=log
    )
    steps = delivery.steps()
    step = next(steps)
    while not isinstance(step, Request):
        step = steps.send(api(step))
    api(step)  # round 5's first POST leaves; the worker dies
    second = Api()
    with pytest.raises(UnresolvedDeliveryError) as raised:
        run(store, second, epoch=5, try_number=2)
    assert raised.value.batches == [1] and second.sent == []


def test_a_complete_variable_header_says_when_it_completed_in_its_description(variables):
    run(ledger_stores.VariableLedgerStore(), Api())
    header = json.loads(variables[SPACE])
    assert variables.descriptions[SPACE] == f"Taqnyat send ledger, complete at {header['updated']}"
    assert variables.descriptions[f"{SPACE}.batch.00001"].startswith("Taqnyat send ledger (")


# --------------------------------------------------------------------------------------------------
# Airflow 2.11: Variables in the metadata database, one connection per send


on_airflow_2 = pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 2.11 writes Variables to its database")


def _rows(prefix):
    """The Variables under ``prefix`` as the metadata database holds them: key -> (text, description)."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(VariableModel).filter(VariableModel.key.startswith(prefix)).all()
        return {row.key: (row.val, row.description) for row in rows}


@contextlib.contextmanager
def _checkouts():
    """Counts the connections taken from Airflow's engine (its task processes have no pool)."""
    from airflow import settings
    from sqlalchemy import event

    taken = []

    def checkout(*_):
        taken.append(threading.get_ident())

    event.listen(settings.engine, "checkout", checkout)
    try:
        yield taken
    finally:
        event.remove(settings.engine, "checkout", checkout)


def _space():
    import uuid

    return f"taqnyat_ledger.test{uuid.uuid4().hex[:12]}"


@on_airflow_2
def test_on_airflow_2_a_send_takes_one_connection_and_writes_n_plus_1_times(airflow_db):
    space = _space()
    store = ledger_stores.MetadataLedgerStore()
    with _checkouts() as taken:
        delivery, report = run(store, Api(), space=space)
    assert report.accepted == NUMBERS
    assert len(taken) == 1  # before: one per read and per write
    assert delivery.writes == 5  # the header, batches 1-3, the header complete carrying batch 4
    rows = _rows(space)
    assert sorted(rows) == [space, *(f"{space}.batch.{n:05d}" for n in range(1, 4))]
    header = json.loads(rows[space][0])
    assert (
        header["status"] == "complete"
        and header["last"]["batch"] == 4
        and header["last"]["state"] == "delivered"
        and rows[space][1] == f"Taqnyat send ledger, complete at {header['updated']}"
    )
    assert all(json.loads(rows[f"{space}.batch.{n:05d}"][0])["state"] == "delivered" for n in range(1, 4))


@on_airflow_2
def test_on_airflow_2_each_write_is_committed_before_it_returns(airflow_db):
    """The in-flight record must be durable before the POST: another connection sees it at once."""
    space = _space()
    store = ledger_stores.MetadataLedgerStore()
    seen = []

    def api(step):
        if isinstance(step, Request):
            seen.append({key: json.loads(text) for key, (text, _) in _rows(space).items()})
        return Api()(step)

    with _checkouts() as taken:
        drive(
            Delivery(
                prepared(), 1, ledger=Ledger(store, space, secret=SECRET), policy=POLICY, log=log
            ).steps(),
            api,
        )
    assert len(taken) == 1 + len(seen)  # the send's one connection, and one per look from outside
    # Before batch n's POST, the store says batch n is next (the header, then batch n-1's record).
    assert seen[0][space]["next"] == 1
    assert [seen[n][f"{space}.batch.{n:05d}"]["next"] for n in range(1, 4)] == [2, 3, 4]


@on_airflow_2
def test_on_airflow_2_a_broken_connection_fails_one_call_and_the_next_reconnects(airflow_db):
    space = _space()
    store = ledger_stores.MetadataLedgerStore()
    with store.holding():
        store.put(space, {"n": 1}, keep=True)
        _, connection = store._held
        connection.connection.dbapi_connection.close()  # the database went away under the send
        with pytest.raises(Exception, match=r"(?i)closed"):
            store.put(space, {"n": 2}, keep=True)
        store.put(space, {"n": 3}, keep=True)
        assert store.get(space) == {"n": 3}
    assert store._held is None


@on_airflow_2
def test_on_airflow_2_another_thread_never_uses_the_held_connection(airflow_db):
    """The async hook runs store calls in worker threads: each takes its own connection."""
    space = _space()
    store = ledger_stores.MetadataLedgerStore()
    with store.holding(), _checkouts() as taken:
        store.put(space, {"n": 1}, keep=True)
        worker = threading.Thread(target=store.put, args=(space, {"n": 2}), kwargs={"keep": True})
        worker.start()
        worker.join()
        assert store.get(space) == {"n": 2}
    assert len(taken) == 2 and taken[0] != taken[1]


@on_airflow_2
def test_on_airflow_2_an_undecryptable_value_is_an_error_not_an_empty_ledger(airflow_db, monkeypatch):
    import airflow.models.crypto
    import airflow.models.variable
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session
    from cryptography.fernet import Fernet, InvalidToken, MultiFernet

    space = _space()
    store = ledger_stores.MetadataLedgerStore()

    class AirflowFernet:
        """What Airflow's get_fernet() gives: a MultiFernet marked is_encrypted. A wrapper: the
        cryptography the dependency floors install (51) makes MultiFernet a Rust class that takes
        no attribute."""

        is_encrypted = True

        def __init__(self):
            self.fernet = MultiFernet([Fernet(Fernet.generate_key())])

        def encrypt(self, data):
            return self.fernet.encrypt(data)

        def decrypt(self, data, *args, **kwargs):
            return self.fernet.decrypt(data, *args, **kwargs)

    written = AirflowFernet()
    for module in (airflow.models.crypto, airflow.models.variable):
        monkeypatch.setattr(module, "get_fernet", lambda: written)
    store.put(space, {"status": "sending"}, keep=True)
    assert _rows(space)[space][0] == '{"status":"sending"}'  # decrypted by Airflow's model
    assert store.get(space) == {"status": "sending"}
    rotated = AirflowFernet()  # the fernet_key changed and the old one is gone
    for module in (airflow.models.crypto, airflow.models.variable):
        monkeypatch.setattr(module, "get_fernet", lambda: rotated)
    with create_session() as session:  # Airflow's own reading: logged, and read as no value
        assert session.query(VariableModel).filter(VariableModel.key == space).one().val is None
    with pytest.raises(InvalidToken):
        store.get(space)


@on_airflow_2
def test_on_airflow_2_the_sweep_uses_what_the_completed_send_found(airflow_db, caplog):
    old = _space()
    writer = ledger_stores.MetadataLedgerStore()
    writer.put(old, {"status": "complete", "updated": "2000-01-01T00:00:00+00:00"}, keep=False)
    writer.put(f"{old}.batch.00001", {"state": "delivered"}, keep=True)
    space = _space()
    store = ledger_stores.MetadataLedgerStore()
    run(store, Api(), space=space)
    assert old in store.expired and space not in store.expired
    ledger = Ledger(store, space, secret=SECRET)
    with _checkouts() as taken, caplog.at_level(logging.INFO, logger="test"):
        ledger_stores.sweep(ledger, log)
    assert len(taken) == 1  # the delete; the look-up was made on the send's own connection
    assert _rows(old) == {} and len(_rows(space)) == 4
    assert f"Removing the send ledger {old}: complete, last written over 30 days ago" in caplog.text


@on_airflow_2
def test_on_airflow_2_a_key_taken_for_new_that_exists_is_still_written(airflow_db):
    """A send inserts keys it never saw; one that someone else wrote (a header deleted by hand, its
    batch keys left) makes that write again as an update: all or none, never an error."""
    space = _space()
    ledger_stores.MetadataLedgerStore().put(f"{space}.batch.00002", {"state": "unknown"}, keep=True)
    store = ledger_stores.MetadataLedgerStore()
    with _checkouts() as taken:
        delivery, report = run(store, Api(), space=space)
    assert report.accepted == NUMBERS and delivery.writes == 5 and len(taken) == 1
    rows = _rows(space)
    # Batch 2's key is written over; batch 4's record is in the complete header.
    assert [json.loads(rows[f"{space}.batch.{n:05d}"][0])["state"] for n in range(1, 4)] == ["delivered"] * 3
    assert json.loads(rows[space][0])["last"]["batch"] == 4
