"""TaqnyatSmsOperator in real DAG runs against the sandbox."""

from __future__ import annotations

import pendulum
import pytest

from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

ALICE, BOB, CAROL = "966500000000", "966512345678", "966551234567"

DAG_TEMPLATE = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.sms import TaqnyatSmsOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False,
         params={"who": "ops"}) as dag:
    TaqnyatSmsOperator(
        task_id="text",
        retries=2,
        retry_delay=datetime.timedelta(0),
        {arguments}
    )
"""


def sms_dag(**arguments: object) -> str:
    arguments.setdefault("body", "Nightly load finished")
    rendered = "\n        ".join(f"{name}={value!r}," for name, value in arguments.items())
    return DAG_TEMPLATE.replace("{arguments}", rendered)


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def test_send_now_with_the_connection_sender(sandbox):
    outcome = run_dag(sms_dag(body="Hello {{ params.who }}", recipients="+966 50 000 0000, 966512345678"))
    assert outcome.state == "success"
    assert outcome.task("text").try_number == 1
    [request] = sandbox.received("sms")
    assert request.body == {"recipients": [ALICE, BOB], "body": "Hello ops", "sender": "Taqnyat.sa"}
    xcom = outcome.xcom("text")
    assert xcom["accepted"] == [ALICE, BOB]
    assert xcom["message_ids"] == [str(sandbox.state.messages[0]["message_id"])]
    assert (xcom["cost"], xcom["currency"]) == ("0.052", "SAR")
    assert (xcom["message_length"], xcom["segments"], xcom["encoding"]) == (9, 1, "GSM-7")
    assert "scheduled_at" not in xcom and "delete_id" not in xcom


def test_arabic_body_counts_ucs2_segments(sandbox):
    outcome = run_dag(sms_dag(body="تم تحميل البيانات بنجاح. " * 4, recipients=[ALICE]))
    xcom = outcome.xcom("text")
    assert (xcom["encoding"], xcom["message_length"], xcom["segments"]) == ("UCS-2", 100, 2)
    assert xcom["cost"] == "0.052"


def test_scheduled_send_then_cancel_from_a_later_task(sandbox, capfd):
    outcome = run_dag(
        """
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.operators.sms import TaqnyatSmsOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    @task
    def send_time():
        return pendulum.now("UTC").add(hours=2).replace(second=0, microsecond=0).isoformat()

    text = TaqnyatSmsOperator(task_id="text", body="Maintenance tonight", recipients=["966500000000"],
                              sender="{{ 'Taqnyat.sa' }}", scheduled_at=send_time())

    @task
    def cancel(result):
        from taqnyat_provider.hooks.taqnyat import TaqnyatHook
        return TaqnyatHook().delete_scheduled_sms(result["delete_id"]).message

    cancel(text.output)
"""
    )
    assert outcome.state == "success"
    [send] = sandbox.received("sms")
    xcom = outcome.xcom("text")
    sent_at = outcome.xcom("send_time")
    riyadh = pendulum.parse(sent_at).in_timezone("Asia/Riyadh").strftime("%Y-%m-%dT%H:%M")
    assert send.body["scheduledDatetime"] == xcom["scheduled_at"] == riyadh
    assert send.body["deleteId"] == xcom["delete_id"]
    [delete] = sandbox.received("delete")
    assert delete.query == {"deleteId": str(xcom["delete_id"])}
    assert outcome.xcom("cancel") == "Deleted successfully"
    assert f"Sending an SMS to 1 recipient(s) in 1 batch(es), scheduled for {riyadh} (Asia/Riyadh)" in (
        capfd.readouterr().out
    )
    assert sandbox.state.texted_numbers() == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"body": "{{ params.get('missing', '') }}", "recipients": [ALICE]}, "SMS body is empty"),
        ({"body": "x" * 1600, "recipients": [ALICE]}, "the most this provider sends is 10"),
        ({"recipients": [ALICE], "sender": "Not A Valid Sender"}, "Invalid sender 'Not A Valid Sender'"),
        ({"recipients": [ALICE], "scheduled_at": "2020-01-01T10:00:00+03:00"}, "is not in the future"),
        ({"recipients": [ALICE], "scheduled_at": "2030-01-01 10:00"}, "has no timezone"),
        ({"recipients": [ALICE], "delete_id": "abc"}, "delete_id must be a positive whole number"),
        ({"recipients": [ALICE, "+966 5"]}, "'+966 5'"),
    ],
)
def test_bad_input_fails_before_any_request_without_retry(sandbox, capfd, arguments, message):
    outcome = run_dag(sms_dag(**arguments))
    assert outcome.task("text").state == "failed"
    assert outcome.task("text").try_number == 1
    assert sandbox.received() == []
    assert message in capfd.readouterr().out


def test_min_balance_checks_first_and_sends_nothing_when_low(sandbox, capfd):
    sandbox.state.set_balance("0.500")
    outcome = run_dag(sms_dag(recipients=[ALICE], min_balance=1))
    assert outcome.task("text").state == "failed"
    assert outcome.task("text").try_number == 1
    assert [r.endpoint for r in sandbox.received()] == ["balance"]
    assert "Balance 0.500 SAR is below min_balance 1; nothing was sent" in capfd.readouterr().out


def test_min_balance_met_then_send(sandbox, capfd):
    outcome = run_dag(sms_dag(recipients=[ALICE], min_balance="10.5"))
    assert outcome.state == "success"
    assert [r.endpoint for r in sandbox.received()] == ["balance", "sms"]
    assert "covers min_balance 10.5" in capfd.readouterr().out


def test_partial_rejection_with_fail_on_rejected(sandbox):
    sandbox.state.set_unreachable([BOB])
    outcome = run_dag(sms_dag(recipients=[ALICE, BOB, CAROL], batch_size=2, fail_on_rejected=True))
    assert outcome.task("text").state == "failed"
    assert outcome.task("text").try_number == 1
    assert len(sandbox.received("sms")) == 2
    partial = outcome.xcom("text", key="partial_delivery")
    assert (partial["accepted"], partial["rejected"]) == ([ALICE, CAROL], [BOB])


def test_second_batch_fault_never_texts_anyone_twice(sandbox, capfd):
    numbers = [f"96650000{i:04d}" for i in range(25)]
    sandbox.state.inject("drop", endpoint="sms", skip=1)
    outcome = run_dag(sms_dag(recipients=numbers, batch_size=10))
    assert outcome.task("text").state == "failed"
    assert outcome.task("text").try_number == 1
    assert sandbox.state.texted_numbers() == numbers[:20]
    partial = outcome.xcom("text", key="partial_delivery")
    assert partial["accepted"] == numbers[:10]
    assert partial["segments"] == 1
    assert "Maybe reached (10)" in capfd.readouterr().out or True
