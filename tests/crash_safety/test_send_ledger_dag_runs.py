"""
The send ledger in real DAG runs: Airflow's own retries, timeouts and XComs, the sandbox as the API.

What matters is counted where it arrives: every phone number appears in at most one request the
sandbox received, whatever ended a try.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS
from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

NUMBERS = ["966500000001", "966500000002", "966500000003", "966500000004"]

DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.{module} import {operator}

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    {operator}(
        task_id="send",
        retries=2,
        retry_delay=datetime.timedelta(0),
        recipients={recipients!r},
        batch_size=1,
        {arguments}
    )
"""
OPERATORS = {
    "voice": ("voice", "TaqnyatVoiceOperator", 'audio_url="https://cdn.example.com/alert.mp3",', "voice"),
    "sms": ("sms", "TaqnyatSmsOperator", 'body="Load failed",', "sms"),
}


def dag(channel: str, extra: str = "") -> str:
    module, operator, own, _ = OPERATORS[channel]
    return DAG.format(module=module, operator=operator, recipients=NUMBERS, arguments=own + extra)


def sent_counts(sandbox, channel: str) -> Counter:
    """How many requests each number was in, answered or not."""
    return Counter(n for request in sandbox.received(channel) for n in request.body["recipients"])


def reached_counts(sandbox, channel: str) -> Counter:
    """How many requests that the API may have processed each number was in: all but 429s and 503s."""
    return Counter(
        n
        for request in sandbox.received(channel)
        if request.status not in (429, 503)
        for n in request.body["recipients"]
    )


timeouts_are_retried = pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS,
    reason="Airflow 2.11's dag.test() lets AirflowTaskTimeout (a BaseException there) escape instead of "
    "retrying the task: the *_on_airflow_2 tests below run the next try by hand",
)
on_airflow_2 = pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="Airflow 3 retries in dag.test(): see above")


def timed_out_then_run_again(dag):
    """
    Airflow 2.11: the first dag.test() marks the timed-out try failed, then lets AirflowTaskTimeout
    escape. The next run of the same logical date has the same run_id, so the same send ledger: it
    stands for the try a worker would run next (as after a clear), in a new process state.
    """
    # dag.test() deletes the earlier run of the date through the ORM, whose dag_run_note refers to
    # the FAB provider's user table: its model must be loaded (the webserver loads it otherwise).
    import airflow.providers.fab.auth_manager.models  # noqa: F401
    import pendulum
    from airflow.exceptions import AirflowTaskTimeout

    when = pendulum.now("UTC").replace(microsecond=0)
    with pytest.raises(AirflowTaskTimeout):
        dag.test(execution_date=when)
    return dag.test(execution_date=when)


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries, monkeypatch):
    # A read timeout longer than the execution_timeout of case (b).
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        sandbox.connection_json(timeout=20, caller_id="966500000001", sender="Taqnyat.sa"),
    )


@pytest.mark.parametrize("channel", OPERATORS)
def test_a_throttled_batch_resumes_on_the_next_try_and_everyone_is_reached_once(sandbox, channel):
    """(a) 503 with Retry-After on batch 3, more times than the hook tries: try 2 finishes the job."""
    sandbox.state.inject("503", endpoint=channel, skip=2, times=3, retry_after="0")
    outcome = run_dag(dag(channel))
    task = outcome.task("send")
    assert (outcome.state, task.state, task.try_number) == ("success", "success", 2)
    counts = sent_counts(sandbox, channel)
    assert set(counts) == set(NUMBERS)
    assert [status for status in (r.status for r in sandbox.received(channel))] == [
        201,
        201,
        503,
        503,
        503,
        201,
        201,
    ]
    # One complete result, whichever try delivered each batch.
    xcom = outcome.xcom("send")
    assert xcom["accepted"] == NUMBERS
    assert len(xcom["message_ids"]) == 4
    assert [b["try"] for b in xcom["batches"]] == [1, 1, 2, 2]


@timeouts_are_retried
@pytest.mark.parametrize("channel", OPERATORS)
def test_execution_timeout_mid_send_never_sends_a_number_twice(sandbox, capfd, channel):
    """(b) execution_timeout fires while batch 2 hangs: try 2 sends nothing and names who may have been reached."""
    sandbox.state.inject("hang", endpoint=channel, skip=1, seconds=8)
    outcome = run_dag(dag(channel, "execution_timeout=datetime.timedelta(seconds=3),"))
    task = outcome.task("send")
    assert (outcome.state, task.state, task.try_number) == ("failed", "failed", 2)
    counts = sent_counts(sandbox, channel)
    assert max(counts.values()) == 1, f"somebody was sent to twice: {counts}"
    assert sorted(counts) == NUMBERS[:2]
    log = capfd.readouterr().out
    assert "UnresolvedDeliveryError" in log
    assert f"Maybe reached (1): {NUMBERS[1]}" in log


@on_airflow_2
@pytest.mark.parametrize("channel", OPERATORS)
def test_execution_timeout_mid_send_never_sends_a_number_twice_on_airflow_2(sandbox, capfd, channel):
    """(b) on Airflow 2.11: the next run of the timed-out send sends nothing and names who may have been reached."""
    sandbox.state.inject("hang", endpoint=channel, skip=1, seconds=8)
    outcome = run_dag(
        dag(channel, "execution_timeout=datetime.timedelta(seconds=3),"), test=timed_out_then_run_again
    )
    assert (outcome.state, outcome.task("send").state) == ("failed", "failed")
    counts = sent_counts(sandbox, channel)
    assert max(counts.values()) == 1, f"somebody was sent to twice: {counts}"
    assert sorted(counts) == NUMBERS[:2]
    log = capfd.readouterr()
    assert "UnresolvedDeliveryError" in log.out + log.err
    assert f"Maybe reached (1): {NUMBERS[1]}" in log.out + log.err


@on_airflow_2
@pytest.mark.parametrize("channel", OPERATORS)
def test_execution_timeout_with_on_unknown_skip_finishes_without_resending_on_airflow_2(sandbox, channel):
    """(c) on Airflow 2.11: the next run skips the unknown batch and sends the rest."""
    sandbox.state.inject("hang", endpoint=channel, skip=1, seconds=8)
    outcome = run_dag(
        dag(channel, 'execution_timeout=datetime.timedelta(seconds=3), on_unknown="skip",'),
        test=timed_out_then_run_again,
    )
    assert (outcome.state, outcome.task("send").state) == ("success", "success")
    counts = sent_counts(sandbox, channel)
    assert set(counts) == set(NUMBERS) and max(counts.values()) == 1
    xcom = outcome.xcom("send")
    assert xcom["maybe_reached"] == [NUMBERS[1]]
    assert xcom["accepted"] == [NUMBERS[0], NUMBERS[2], NUMBERS[3]]


@timeouts_are_retried
@pytest.mark.parametrize("channel", OPERATORS)
def test_execution_timeout_with_on_unknown_skip_finishes_without_resending(sandbox, channel):
    """(c) The same with on_unknown="skip": try 2 skips the unknown batch and sends the rest."""
    sandbox.state.inject("hang", endpoint=channel, skip=1, seconds=8)
    outcome = run_dag(dag(channel, 'execution_timeout=datetime.timedelta(seconds=3), on_unknown="skip",'))
    task = outcome.task("send")
    assert (outcome.state, task.try_number) == ("success", 2)
    counts = sent_counts(sandbox, channel)
    assert set(counts) == set(NUMBERS) and max(counts.values()) == 1
    xcom = outcome.xcom("send")
    assert xcom["maybe_reached"] == [NUMBERS[1]]
    assert xcom["accepted"] == [NUMBERS[0], NUMBERS[2], NUMBERS[3]]


def test_a_bare_503_after_a_delivered_batch_is_unknown_not_retried(sandbox, capfd):
    """A 503 without Retry-After may be a proxy's reset after forwarding: never re-sent."""
    sandbox.state.inject("503", endpoint="voice", skip=1, retry_after=None)
    outcome = run_dag(dag("voice"))
    task = outcome.task("send")
    assert (task.state, task.try_number) == ("failed", 1)
    assert max(sent_counts(sandbox, "voice").values()) == 1
    assert "IncompleteDeliveryError" in capfd.readouterr().out
    partial = outcome.xcom("send", key="partial_delivery")
    assert partial["accepted"] == NUMBERS[:1]


def ledger_rows(outcome, task_id: str = "send", map_index: int = -1) -> dict[str, dict]:
    """
    One task instance's send-ledger entries, key -> JSON object, from where the provider keeps them
    on this Airflow: its task state store (3.3+) or Variables (2.11).
    """
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.task_state_store import TaskStateStoreModel

        with create_session() as session:
            rows = session.query(TaskStateStoreModel).filter_by(
                dag_id=outcome.dag_id, run_id=outcome.run_id, task_id=task_id, map_index=map_index
            )
            return {row.key: json.loads(row.value) for row in rows}
    from airflow.models.variable import Variable

    from taqnyat_provider.core.ledger import variable_space

    space = variable_space(dag_id=outcome.dag_id, run_id=outcome.run_id, task_id=task_id, map_index=map_index)
    with create_session() as session:
        rows = session.query(Variable).filter(Variable.key.like(f"{space}%")).all()
        return {row.key: json.loads(row.val) for row in rows}


def header(rows: dict[str, dict]) -> dict:
    [head] = [value for key, value in rows.items() if ".batch." not in key and not key.endswith(".deferred")]
    return head


def batch_states(rows: dict[str, dict]) -> dict[int, str]:
    """Each batch's state as a later try reads it: its key, or the complete header's ``last``."""
    states = {int(key.rsplit(".", 1)[1]): value["state"] for key, value in rows.items() if ".batch." in key}
    last = header(rows).get("last")
    if last is not None:
        states[last["batch"]] = last["state"]
    return states


def test_a_successful_send_is_kept_complete_not_deleted(sandbox):
    """Deleting inside execute() lost the entry when Airflow failed the task after it: it is kept, complete."""
    outcome = run_dag(dag("voice"))
    assert outcome.state == "success"
    rows = ledger_rows(outcome)
    assert header(rows)["status"] == "complete"
    assert batch_states(rows) == {1: "delivered", 2: "delivered", 3: "delivered", 4: "delivered"}


def test_an_unfinished_send_keeps_its_ledger_and_it_holds_no_recipients(sandbox):
    sandbox.state.inject("502", endpoint="voice", skip=1)
    outcome = run_dag(dag("voice"))
    rows = ledger_rows(outcome)
    assert batch_states(rows) == {1: "delivered", 2: "unknown"}
    assert header(rows)["status"] == "sending"
    assert not any(number in json.dumps(rows) for number in NUMBERS)


# --------------------------------------------------------------------------------------------------
# The three ways the ledger used to call people twice, each on Airflow 3.3 and 2.11

MAPPED_SMS_DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.sms import TaqnyatSmsOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    TaqnyatSmsOperator.partial(
        task_id="send",
        retries=2,
        retry_delay=datetime.timedelta(0),
        body="Load failed",
        batch_size=1,
        # Rendered by Airflow after execute() returned: a mistake here fails (and retries) a task
        # whose send is already done.
        map_index_template="{{{{ params.missing.name }}}}",
    ).expand(recipients=[{recipients!r}, {others!r}])
"""


def test_a_failure_after_execute_is_retried_without_sending_again(sandbox):
    """(1) map_index_template fails after the send: each try replays the complete send, sending nothing."""
    outcome = run_dag(MAPPED_SMS_DAG.format(recipients=NUMBERS[:2], others=NUMBERS[2:]))
    for index in (0, 1):
        task = outcome.task("send", map_index=index)
        assert (task.state, task.try_number) == ("failed", 3)
    counts = sent_counts(sandbox, "sms")
    assert counts == Counter({number: 1 for number in NUMBERS}), counts


@pytest.fixture
def ledger_read_fails_once(monkeypatch):
    """
    The second read of a send ledger in the run (try 2's first) fails, as an API server or database
    blip does: on Airflow 3 the API server's answer to the task is an error, on 2.11 the metadata
    database's. Below the provider, so the old ledger (Variable.get) met it too.
    """
    reads = []

    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.comms import ErrorResponse, GetTaskStateStore, GetVariable
        from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

        send = InProcessSupervisorComms.send

        def flaky_send(self, msg):
            ledger = isinstance(msg, GetTaskStateStore) or (
                isinstance(msg, GetVariable) and msg.key.startswith("taqnyat_ledger.")
            )
            if ledger:
                reads.append(msg)
                if len(reads) == 2:
                    return ErrorResponse(detail={"message": "API server: 503 Service Unavailable"})
            return send(self, msg)

        monkeypatch.setattr(InProcessSupervisorComms, "send", flaky_send)
        yield reads
        return

    import sqlalchemy
    from airflow import settings
    from sqlalchemy.exc import OperationalError

    def flaky_select(conn, cursor, statement, parameters, context, executemany):
        if (
            statement.lstrip().upper().startswith("SELECT")
            and "FROM variable" in statement
            and "taqnyat_ledger." in str(parameters)
        ):
            reads.append(statement)
            if len(reads) == 2:
                raise OperationalError(statement, parameters, Exception("database is restarting"))

    sqlalchemy.event.listen(settings.engine, "before_cursor_execute", flaky_select)
    yield reads
    sqlalchemy.event.remove(settings.engine, "before_cursor_execute", flaky_select)


def test_a_ledger_read_that_fails_stops_the_try_instead_of_reading_no_ledger(
    sandbox, ledger_read_fails_once, capfd
):
    """(2) Try 1 delivers batches 1-2, then 429s; try 2's ledger read fails; try 3 finishes. Nobody twice."""
    sandbox.state.inject("429", endpoint="voice", skip=2, times=3, retry_after="0")
    outcome = run_dag(dag("voice"))
    task = outcome.task("send")
    assert (outcome.state, task.state, task.try_number) == ("success", "success", 3)
    counts = reached_counts(sandbox, "voice")
    assert counts == Counter(NUMBERS), counts
    assert len(ledger_read_fails_once) >= 3


BACKFILL_DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    # dag.test() runs every ready task of a pass, in no set order: "send" and "gate" run in the
    # first pass, so "zz_other" (after "gate") runs in the second, while send's retry waits 8 s.
    TaqnyatVoiceOperator(
        task_id="send",
        retries=1,
        retry_delay=datetime.timedelta(seconds=8),
        audio_url="https://cdn.example.com/alert.mp3",
        recipients={recipients!r},
        batch_size=1,
    )

    @task
    def gate():
        pass

    # Another task's successful send: the old ledger swept every entry dated over 30 days back here.
    gate() >> TaqnyatVoiceOperator(
        task_id="zz_other",
        audio_url="https://cdn.example.com/alert.mp3",
        recipients={others!r},
    )
"""


@pytest.mark.skipif(
    not AIRFLOW_V_3_0_PLUS, reason="2.11's dag.test() runs ready tasks in no set order: below"
)
def test_an_old_runs_unfinished_entry_survives_another_tasks_success(sandbox):
    """(3) A run dated 45 days back (a backfill): its entry outlives other sends and cleanups; try 2 resumes."""
    import pendulum

    others = ["966500000011"]
    sandbox.state.inject("429", endpoint="voice", skip=2, times=3, retry_after="0")
    when = pendulum.now("UTC").subtract(days=45).replace(microsecond=0)

    outcome = run_dag(
        BACKFILL_DAG.format(recipients=NUMBERS, others=others),
        test=lambda dag: dag.test(logical_date=when, run_after=when),
    )
    assert (outcome.task("zz_other").state, outcome.task("send").state) == ("success", "success")
    assert outcome.task("send").try_number == 2
    counts = reached_counts(sandbox, "voice")
    assert counts == Counter([*NUMBERS, *others]), counts
    order = [(r.body["recipients"][0], r.status) for r in sandbox.received("voice")]
    # send's batches 1-2, three 429s, other's call, then send's try 2 (batches 3-4): the retry came last.
    assert order == [
        (NUMBERS[0], 201),
        (NUMBERS[1], 201),
        *[(NUMBERS[2], 429)] * 3,
        (others[0], 201),
        (NUMBERS[2], 201),
        (NUMBERS[3], 201),
    ]


@on_airflow_2
def test_an_old_runs_unfinished_entry_survives_another_tasks_success_on_airflow_2(sandbox):
    """
    (3) on Airflow 2.11: a run dated 45 days back stops at batch 3; another DAG's send succeeds (the
    old ledger swept every entry dated over 30 days back then); the next run of the same date (the
    same run_id, so the same ledger: it stands for the next try) resumes at batch 3.
    """
    import airflow.providers.fab.auth_manager.models  # noqa: F401  (see timed_out_then_run_again)
    import pendulum

    others = ["966500000011"]
    sandbox.state.inject("429", endpoint="voice", skip=2, times=3, retry_after="0")
    when = pendulum.now("UTC").subtract(days=45).replace(microsecond=0)
    dag_id = f"backfill_{uuid.uuid4().hex[:8]}"
    source = dag("voice").replace("retries=2", "retries=0")
    first = run_dag(source, dag_id=dag_id, test=lambda d: d.test(execution_date=when))
    assert first.task("send").state == "failed"
    assert run_dag(dag("voice").replace(repr(NUMBERS), repr(others))).state == "success"
    again = run_dag(source, dag_id=dag_id, test=lambda d: d.test(execution_date=when))
    assert (again.run_id, again.task("send").state) == (first.run_id, "success")
    counts = reached_counts(sandbox, "voice")
    assert counts == Counter([*NUMBERS, *others]), counts


@on_airflow_2
def test_a_successful_send_removes_complete_entries_last_written_over_30_days_ago(sandbox):
    """Variables (2.11): old *complete* entries go with a later success; unfinished ones stay, however old."""
    from airflow.models.variable import Variable

    old_complete, old_unfinished, recent = (f"taqnyat_ledger.{name}" for name in ("oldc", "oldu", "new"))
    Variable.set(old_complete, "{}", description="Taqnyat send ledger, complete at 2000-01-01T00:00:00+00:00")
    Variable.set(f"{old_complete}.batch.00001", "{}", description="Taqnyat send ledger (...)")
    Variable.set(old_unfinished, "{}", description="Taqnyat send ledger (see the provider's delivery docs)")
    Variable.set(recent, "{}", description="Taqnyat send ledger, complete at 2099-01-01T00:00:00+00:00")
    assert run_dag(dag("voice")).state == "success"
    left = {key: Variable.get(key, None) for key in (old_complete, f"{old_complete}.batch.00001")}
    assert left == {old_complete: None, f"{old_complete}.batch.00001": None}
    assert Variable.get(old_unfinished, None) == "{}" and Variable.get(recent, None) == "{}"


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the task state store is Airflow 3.3's")
def test_airflows_own_cleanup_keeps_an_unfinished_send(sandbox):
    """`airflow state-store clean` removes expired rows: a send under way has none, whatever its age."""
    import os
    import subprocess
    import sys

    sandbox.state.inject("502", endpoint="voice", skip=1)
    outcome = run_dag(dag("voice"))
    before = ledger_rows(outcome)
    env = {**os.environ, "AIRFLOW__STATE_STORE__DEFAULT_RETENTION_DAYS": "1"}
    subprocess.run(
        [sys.executable, "-m", "airflow", "state-store", "clean"], env=env, check=True, capture_output=True
    )
    assert ledger_rows(outcome) == before


NOTIFIER_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier

call_on_call = TaqnyatVoiceNotifier(audio_url="https://cdn.example.com/alert.mp3", recipients={recipients!r})

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    # The same callback twice for one failure: the second finds the first's ledger entry.
    @task(on_failure_callback=[call_on_call, call_on_call])
    def load():
        raise RuntimeError("the nightly load failed")

    load()
"""


def test_a_notifier_run_twice_for_the_same_try_calls_once(sandbox):
    outcome = run_dag(NOTIFIER_DAG.format(recipients=NUMBERS[:2]))
    assert outcome.task("load").state == "failed"
    counts = sent_counts(sandbox, "voice")
    assert counts == Counter({NUMBERS[0]: 1, NUMBERS[1]: 1})
