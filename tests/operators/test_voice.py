"""TaqnyatVoiceOperator in real DAG runs against the sandbox."""

from __future__ import annotations

import json

import pytest

from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

ALICE, BOB, CAROL = "966500000000", "966512345678", "966551234567"
AUDIO = "https://cdn.example.com/alert.mp3"

DAG_TEMPLATE = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    TaqnyatVoiceOperator(
        task_id="call",
        retries=2,
        retry_delay=datetime.timedelta(0),
        {arguments}
    )
"""


def voice_dag(**arguments: object) -> str:
    arguments.setdefault("audio_url", AUDIO)
    rendered = "\n        ".join(f"{name}={value!r}," for name, value in arguments.items())
    return DAG_TEMPLATE.replace("{arguments}", rendered)


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def test_success_sends_normalized_unique_numbers_and_returns_xcom(sandbox):
    outcome = run_dag(
        voice_dag(recipients=["+966 50 000 0000", "00966512345678", "966-55-123-4567", "966500000000"])
    )
    assert outcome.state == "success"
    assert outcome.task("call").try_number == 1
    [request] = sandbox.received("voice")
    assert request.body == {"recipients": [ALICE, BOB, CAROL], "callerId": "966500000001", "audioUrl": AUDIO}
    xcom = outcome.xcom("call")
    assert xcom["accepted"] == [ALICE, BOB, CAROL]
    assert xcom["rejected"] == []
    assert xcom["message_ids"] == [sandbox.state.calls[0]["message_id"].__str__()]
    assert (xcom["cost"], xcom["currency"]) == ("0.648", "SAR")
    assert xcom["batches"][0]["recipients"] == 3
    assert json.dumps(xcom).count(ALICE) == 1  # each number once in XCom


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"recipients": [ALICE, "12345", "not-a-number"]}, "'12345'"),
        ({"recipients": []}, "recipients is empty"),
        ({"recipients": None}, "recipients is None"),
        ({"recipients": [ALICE], "audio_url": "alert.mp3"}, "audio_url must be an absolute http(s) URL"),
        ({"recipients": [ALICE], "caller_id": "CALLCENTER"}, "Invalid caller_id 'CALLCENTER'"),
        ({"recipients": ["0500000000"]}, "needs default_region"),
    ],
)
def test_bad_input_fails_before_any_request_without_retry(sandbox, capfd, arguments, message):
    outcome = run_dag(voice_dag(**arguments))
    assert outcome.task("call").state == "failed"
    assert outcome.task("call").try_number == 1
    assert sandbox.received() == []
    assert message in capfd.readouterr().out


def test_local_numbers_with_default_region(sandbox):
    outcome = run_dag(voice_dag(recipients="0500000000\n0512345678", default_region="SA"))
    assert outcome.state == "success"
    assert sandbox.received("voice")[0].body["recipients"] == [ALICE, BOB]


# Error codes, throttling and unknown outcomes: tests/faults/test_send_faults.py, for both operators.


def test_batches_of_100_for_250_numbers(sandbox):
    numbers = [f"96650000{i:04d}" for i in range(250)]
    outcome = run_dag(voice_dag(recipients=numbers, batch_size=100))
    assert outcome.state == "success"
    requests = sandbox.received("voice")
    assert [len(r.body["recipients"]) for r in requests] == [100, 100, 50]
    assert [n for r in requests for n in r.body["recipients"]] == numbers
    assert sorted(sandbox.state.called_numbers()) == sorted(numbers)
    assert len(outcome.xcom("call")["message_ids"]) == 3


@pytest.mark.parametrize("fault", ["error:3", "drop"])
def test_failure_on_second_batch_never_calls_anyone_twice(sandbox, capfd, fault):
    numbers = [f"96650000{i:04d}" for i in range(250)]
    sandbox.state.inject(fault, endpoint="voice", skip=1)
    outcome = run_dag(voice_dag(recipients=numbers, batch_size=100))
    assert outcome.task("call").state == "failed"
    assert outcome.task("call").try_number == 1
    assert len(sandbox.received("voice")) == 2
    called = sandbox.state.called_numbers()
    assert len(called) == len(set(called))
    partial = outcome.xcom("call", key="partial_delivery")
    assert partial["accepted"] == numbers[:100]
    log = capfd.readouterr().out
    assert "Batch 2 of 3 failed" in log
    assert "Not reached (" in log


def test_partial_rejection_is_reported(sandbox, capfd):
    sandbox.state.set_unreachable([BOB])
    outcome = run_dag(voice_dag(recipients=[ALICE, BOB]))
    assert outcome.state == "success"
    xcom = outcome.xcom("call")
    assert (xcom["accepted"], xcom["rejected"]) == ([ALICE], [BOB])
    assert f"Taqnyat rejected 1 number(s): {BOB}" in capfd.readouterr().out


def test_fail_on_rejected_fails_after_sending_everything(sandbox):
    sandbox.state.set_unreachable([ALICE])
    outcome = run_dag(voice_dag(recipients=[ALICE, BOB, CAROL], batch_size=1, fail_on_rejected=True))
    assert outcome.task("call").state == "failed"
    assert outcome.task("call").try_number == 1
    assert len(sandbox.received("voice")) == 3
    assert outcome.xcom("call", key="partial_delivery")["rejected"] == [ALICE]


def test_templated_audio_url_and_recipients_from_upstream_xcom(sandbox):
    outcome = run_dag(
        """
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1),
         params={"clip": "outage.mp3"}) as dag:
    @task
    def rota():
        return ["+966 50 000 0000", "966512345678"]

    TaqnyatVoiceOperator(
        task_id="call",
        audio_url="https://cdn.example.com/{{ params.clip }}",
        recipients=rota(),
        caller_id="{{ '966500000009' }}",
    )
"""
    )
    assert outcome.state == "success"
    assert sandbox.received("voice")[0].body == {
        "recipients": [ALICE, BOB],
        "callerId": "966500000009",
        "audioUrl": "https://cdn.example.com/outage.mp3",
    }


def test_min_balance_stops_the_send(sandbox, capfd):
    outcome = run_dag(voice_dag(recipients=[ALICE], min_balance="500"))
    assert outcome.task("call").state == "failed"
    assert outcome.task("call").try_number == 1
    assert sandbox.received("voice") == []
    assert "is below min_balance 500" in capfd.readouterr().out


def test_token_never_logged(sandbox, capfd):
    sandbox.state.inject("error:104", endpoint="voice")
    run_dag(voice_dag(recipients=[ALICE]))
    run_dag(voice_dag(recipients=[ALICE]))
    captured = capfd.readouterr()
    assert "Taqnyat error 104" in captured.out
    assert sandbox.token not in captured.out + captured.err
