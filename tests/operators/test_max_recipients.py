"""
``max_recipients`` on both send operators, in DAG runs against the sandbox: a send larger than the
cap fails on try 1 without retry, before any request (not even the balance check), naming the
count and the cap; the count is of normalized, de-duplicated numbers.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from taqnyat_provider.exceptions import InvalidInputError
from tests.dag_runner import run_dag
from tests.operators.runs import stand_clock

pytestmark = pytest.mark.integration

FIVE = [f"96650000{i:04d}" for i in range(5)]
SIX = [*FIVE, "966500000099"]

DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.sms import TaqnyatSmsOperator
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    __OPERATOR__(
        task_id="send",
        retries=2,
        retry_delay=datetime.timedelta(0),
        max_recipients=5,
        __ARGUMENTS__
    )
"""
OPERATORS = {
    "voice": ("TaqnyatVoiceOperator", 'audio_url="https://cdn.example.com/reminder.mp3",'),
    "sms": ("TaqnyatSmsOperator", 'body="The nightly load is late",'),
}


def dag(channel: str, arguments: str) -> str:
    operator, own = OPERATORS[channel]
    return DAG.replace("__OPERATOR__", operator).replace("__ARGUMENTS__", own + arguments)


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


@pytest.mark.parametrize("channel", ["voice", "sms"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_send_over_the_cap_fails_before_any_request_without_retry(sandbox, capfd, channel, dry_run):
    # min_balance: the balance GET would be the first request; the cap stops the task before it.
    outcome = run_dag(dag(channel, f"recipients={SIX!r}, min_balance='1', dry_run={dry_run},"))
    task = outcome.task("send")
    assert (task.state, task.try_number) == ("failed", 1)
    assert sandbox.received() == []
    log = capfd.readouterr().out
    assert (
        "AirflowFailException: TooManyRecipientsError: This send has 6 recipients, more than max_recipients (5)"
        in log
    )


@pytest.mark.parametrize("channel", ["voice", "sms"])
def test_the_cap_counts_normalized_unique_numbers(sandbox, channel):
    # Seven entries, five people: the send is within the cap of 5.
    entries = [*FIVE, "+966 50 000 0000", "00966500000001"]
    outcome = run_dag(dag(channel, f"recipients={entries!r},"))
    assert outcome.state == "success"
    sent = sandbox.called_numbers() if channel == "voice" else sandbox.texted_numbers()
    assert sorted(sent) == FIVE


def test_a_send_over_the_cap_fails_in_quiet_hours_instead_of_deferring(sandbox, monkeypatch, capfd):
    """A runaway list is a mistake: it fails now, not at 07:00 when the window ends."""
    stand_clock(monkeypatch, datetime(2025, 1, 5, 23, 0, tzinfo=ZoneInfo("Asia/Riyadh")))
    outcome = run_dag(dag("voice", f"recipients={SIX!r}, quiet_hours='22:00-07:00',"))
    assert (outcome.task("send").state, outcome.task("send").try_number) == ("failed", 1)
    assert sandbox.received() == []
    log = capfd.readouterr().out
    assert "more than max_recipients (5)" in log
    assert "deferring" not in log


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10", "{{ params.cap }}"])
def test_max_recipients_must_be_a_positive_whole_number(value):
    from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

    with pytest.raises(InvalidInputError, match="max_recipients must be a positive whole number or None"):
        TaqnyatVoiceOperator(
            task_id="t", audio_url="https://cdn.example.com/a.mp3", recipients=FIVE, max_recipients=value
        )


def test_no_cap_by_default():
    from taqnyat_provider.operators.sms import TaqnyatSmsOperator

    assert TaqnyatSmsOperator(task_id="t", body="x", recipients=FIVE).max_recipients is None
