"""The lateness guard in DAG runs: a scheduled run that is too late is skipped before any request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.operators.runs import run_dag_due, stand_clock

pytestmark = pytest.mark.integration

DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator
from taqnyat_provider.operators.sms import TaqnyatSmsOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    TaqnyatVoiceOperator(
        task_id="call",
        audio_url="https://cdn.example.com/reminder.mp3",
        recipients=["966500000000"],
        max_lateness=datetime.timedelta(minutes=30),
    )
    TaqnyatSmsOperator(
        task_id="text",
        body="Reminder: stand-up at 08:30",
        recipients=["966512345678"],
        max_lateness=datetime.timedelta(minutes=30),
    )
"""


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox):
    pass


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def test_a_scheduled_run_two_hours_late_is_skipped_with_no_request(sandbox, monkeypatch, capfd):
    outcome = run_dag_due(DAG, ago(hours=2), scheduled=True, monkeypatch=monkeypatch)
    assert outcome.run_id.startswith("scheduled__")
    assert (outcome.task("call").state, outcome.task("text").state) == ("skipped", "skipped")
    assert sandbox.received() == []
    log = capfd.readouterr().out
    assert "Skipping: this scheduled run was due at" in log
    assert "late, more than max_lateness (30m 00s); nothing was sent" in log


def test_an_on_time_scheduled_run_calls(sandbox, monkeypatch):
    outcome = run_dag_due(DAG, ago(minutes=1), scheduled=True, monkeypatch=monkeypatch)
    assert outcome.run_id.startswith("scheduled__")
    assert (outcome.task("call").state, outcome.task("text").state) == ("success", "success")
    assert sandbox.called_numbers() == ["966500000000"]
    assert sandbox.texted_numbers() == ["966512345678"]


def test_a_manual_run_for_a_date_two_hours_ago_is_not_skipped(sandbox, monkeypatch):
    outcome = run_dag_due(DAG, ago(hours=2), scheduled=False, monkeypatch=monkeypatch)
    assert outcome.run_id.startswith("manual__")
    assert outcome.task("call").state == "success"
    assert sandbox.called_numbers() == ["966500000000"]


SINGLE_CALL = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    TaqnyatVoiceOperator(
        task_id="call",
        audio_url="https://cdn.example.com/reminder.mp3",
        recipients=["966500000000", "966500000001"],
        batch_size=1,
        retries=1,
        retry_delay=datetime.timedelta(0),
        max_lateness=datetime.timedelta(minutes=30),
    )
"""


def test_a_send_under_way_is_finished_however_late(sandbox, monkeypatch, capfd, fast_retries):
    """Try 1 delivers batch 1 on time, then 503s stop batch 2; try 2 comes 2 hours late and finishes the send."""
    sandbox.state.inject("503", endpoint="voice", skip=1, times=3, retry_after="0")
    now = datetime.now(UTC)
    clock = stand_clock(monkeypatch, now, now + timedelta(hours=2))
    outcome = run_dag_due(SINGLE_CALL, now - timedelta(minutes=29), scheduled=True, monkeypatch=monkeypatch)
    task = outcome.task("call")
    assert (task.state, task.try_number) == ("success", 2)
    assert clock.calls == 2
    assert sandbox.called_numbers() == ["966500000000", "966500000001"]
    log = capfd.readouterr().out
    assert "This send started or was deferred on an earlier try: finishing it" in log
    assert "Skipping" not in log
