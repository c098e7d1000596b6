"""
Fault injection for both send operators: every fault the sandbox can play, in a real DAG run.

Each case asserts what matters at 3 a.m.: how many requests reached the sandbox (never a duplicate
send), the task's state and try number, and a log line that names the cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from taqnyat_provider.core import error_codes
from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

ALICE = "966500000000"

DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.{module} import {operator}

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    {operator}(task_id="send", retries=2, retry_delay=datetime.timedelta(0), {arguments})
"""

OPERATORS = {
    "voice": ("voice", "TaqnyatVoiceOperator", {"audio_url": "https://cdn.example.com/alert.mp3"}),
    "sms": ("sms", "TaqnyatSmsOperator", {"body": "Load failed, see Airflow"}),
}


def send_dag(channel: str, **arguments: object) -> str:
    module, operator, own = OPERATORS[channel]
    rendered = ", ".join(f"{name}={value!r}" for name, value in {**own, **arguments}.items())
    return DAG.format(module=module, operator=operator, arguments=rendered)


@dataclass
class Case:
    fault: dict
    state: str
    try_number: int
    statuses: list[int | None]
    log: str
    recipients: list[str] = field(default_factory=lambda: [ALICE])
    batch_size: int = 100


UNKNOWN = "Delivery unknown"
CASES = {
    **{
        f"error-{code}": Case(
            {"kind": f"error:{code}"},
            "failed",
            1,
            [error_codes.CATALOG[code].http_status],
            f"Taqnyat error {code}",
        )
        for code in error_codes.CATALOG
    },
    "429-retry-after": Case(
        {"kind": "429", "retry_after": "1"}, "success", 1, [429, 201], "Attempt 1 of 3 failed"
    ),
    "503-retry-after": Case({"kind": "503", "retry_after": "1"}, "success", 1, [503, 201], "HTTP 503"),
    "429-persistent": Case(
        {"kind": "429", "times": 3}, "success", 2, [429, 429, 429, 201], "Giving up after attempt 3 of 3"
    ),
    "500-html": Case({"kind": "500"}, "failed", 1, [500], UNKNOWN),
    "502-html": Case({"kind": "502"}, "failed", 1, [502], UNKNOWN),
    "dropped": Case({"kind": "drop"}, "failed", 1, [None], UNKNOWN),
    "hang-past-timeout": Case(
        {"kind": "hang", "seconds": 5}, "failed", 1, [None], "no answer before the timeout"
    ),
    "garbage-2xx": Case({"kind": "garbage"}, "failed", 1, [200], "not a JSON object"),
    "empty-2xx": Case({"kind": "empty"}, "failed", 1, [201], "Empty response body"),
    "mid-batch-error": Case(
        {"kind": "error:3", "skip": 1},
        "failed",
        1,
        [201, 400],
        "Batch 2 of 3 failed",
        recipients=[f"96650000{i:04d}" for i in range(5)],
        batch_size=2,
    ),
    "mid-batch-drop": Case(
        {"kind": "drop", "skip": 1},
        "failed",
        1,
        [201, None],
        "Maybe reached (2)",
        recipients=[f"96650000{i:04d}" for i in range(5)],
        batch_size=2,
    ),
}


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def reached(sandbox, channel: str) -> list[str]:
    return sandbox.state.called_numbers() if channel == "voice" else sandbox.state.texted_numbers()


@pytest.mark.parametrize("channel", OPERATORS)
@pytest.mark.parametrize("case_id", CASES)
def test_fault(sandbox, capfd, channel, case_id):
    case = CASES[case_id]
    sandbox.state.inject(endpoint=channel, **case.fault)
    outcome = run_dag(send_dag(channel, recipients=case.recipients, batch_size=case.batch_size))
    task = outcome.task("send")
    assert (task.state, task.try_number) == (case.state, case.try_number)
    assert [r.status for r in sandbox.received(channel)] == case.statuses
    numbers = reached(sandbox, channel)
    assert len(numbers) == len(set(numbers)), "somebody was reached twice"
    if case.state == "success":
        assert numbers == case.recipients
    assert case.log in capfd.readouterr().out


def test_mid_batch_failure_reports_who_was_reached(sandbox):
    numbers = [f"96650000{i:04d}" for i in range(5)]
    sandbox.state.inject("drop", endpoint="sms", skip=1)
    outcome = run_dag(send_dag("sms", recipients=numbers, batch_size=2))
    partial = outcome.xcom("send", key="partial_delivery")
    assert partial["accepted"] == numbers[:2]
    assert sandbox.state.texted_numbers() == numbers[:4]  # the dropped batch was processed


@pytest.mark.parametrize("channel", OPERATORS)
def test_connection_refused_is_retried_by_airflow_because_nothing_was_sent(
    sandbox, api_unreachable, capfd, channel
):
    outcome = run_dag(send_dag(channel, recipients=[ALICE]))
    assert outcome.task("send").state == "failed"
    assert outcome.task("send").try_number == 3  # retries=2: every try was safe to make
    log = capfd.readouterr().out
    assert log.count("Giving up after attempt 3 of 3") == 3
    assert "could not connect" in log
    assert sandbox.received() == []
