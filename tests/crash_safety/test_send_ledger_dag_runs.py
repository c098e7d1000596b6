"""
The send ledger in real DAG runs: Airflow's own retries, timeouts and XComs, the sandbox as the API.

What matters is counted where it arrives: every phone number appears in at most one request the
sandbox received, whatever ended a try.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

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


def ledgers(dag_id: str) -> dict[str, tuple[str, str]]:
    """The send-ledger Variables of one DAG's runs: key -> (value, description)."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(Variable).filter(Variable.key.like("taqnyat_ledger.%")).all()
        found = {row.key: (row.val, row.description) for row in rows}
    return {
        key: value for key, value in found.items() if json.loads(value[0])["send"].startswith(f"{dag_id}/")
    }


def test_a_successful_send_leaves_no_ledger_behind(sandbox):
    outcome = run_dag(dag("voice"))
    assert outcome.state == "success"
    assert ledgers(outcome.dag_id) == {}


def test_an_unfinished_send_keeps_its_ledger_and_it_holds_no_recipients(sandbox):
    sandbox.state.inject("502", endpoint="voice", skip=1)
    outcome = run_dag(dag("voice"))
    [(value, description)] = ledgers(outcome.dag_id).values()
    entry = json.loads(value)
    assert entry["batches"]["2"]["state"] == "unknown"
    assert entry["batches"]["1"]["state"] == "delivered"
    assert not any(number in value for number in NUMBERS)
    assert "Taqnyat send ledger" in description


def test_a_successful_send_removes_ledgers_older_than_the_retention(sandbox):
    from airflow.models.variable import Variable

    from taqnyat_provider.ledger import ledger_key

    stale = ledger_key(dag_id="gone", run_id="r", task_id="t", map_index=-1, day=date(2000, 1, 1))
    Variable.set(stale, json.dumps({"version": 1, "send": "gone/r/t"}))
    outcome = run_dag(dag("voice"))
    assert outcome.state == "success"
    assert Variable.get(stale, None) is None


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
