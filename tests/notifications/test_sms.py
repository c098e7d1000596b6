"""TaqnyatSmsNotifier as a callback, sync and async."""

from __future__ import annotations

import asyncio

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.notifications.sms import TaqnyatSmsNotifier, send_taqnyat_sms
from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration
ALICE, BOB = "966500000000", "966512345678"


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def test_alias():
    assert send_taqnyat_sms is TaqnyatSmsNotifier


def test_task_failure_sends_exactly_one_templated_sms(sandbox):
    outcome = run_dag(
        """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.notifications.sms import send_taqnyat_sms

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    @task(retries=1, retry_delay=datetime.timedelta(0),
          on_failure_callback=send_taqnyat_sms(
              body="{{ ti.task_id }} failed in {{ dag.dag_id }} (try {{ ti.try_number }})",
              recipients="+966 50 000 0000"))
    def breaks():
        raise RuntimeError("boom")

    breaks()
"""
    )
    assert outcome.task("breaks").state == "failed"
    assert outcome.task("breaks").try_number == 2
    [request] = sandbox.received("sms")
    assert request.body == {
        "recipients": [ALICE],
        "body": f"breaks failed in {outcome.dag_id} (try 2)",
        "sender": "Taqnyat.sa",
    }


def test_notify_and_async_notify_send_the_same_requests(sandbox):
    notifier = TaqnyatSmsNotifier(body="مرحبا", recipients=[ALICE, BOB], sender="Taqnyat.sa", batch_size=1)
    notifier.notify({})
    asyncio.run(notifier.async_notify({}))
    bodies = [r.body for r in sandbox.received("sms")]
    # What the sandbox received, spelled out: equal halves alone would pass with nothing sent.
    expected = [{"recipients": [number], "body": "مرحبا", "sender": "Taqnyat.sa"} for number in (ALICE, BOB)]
    assert bodies == expected * 2
    assert sandbox.state.texted_numbers() == [ALICE, BOB, ALICE, BOB]


def test_notifier_validates_before_sending(sandbox):
    with pytest.raises(exc.InvalidInputError, match="SMS body is empty"):
        TaqnyatSmsNotifier(body=" ", recipients=[ALICE]).notify({})
    with pytest.raises(exc.InvalidInputError, match="Invalid sender"):
        asyncio.run(TaqnyatSmsNotifier(body="hi", recipients=[ALICE], sender="x" * 12).async_notify({}))
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_async_notify_never_resends_unknown_outcome(sandbox, kind):
    sandbox.state.inject(kind, endpoint="sms")
    with pytest.raises(exc.TaqnyatDeliveryUnknownError):
        asyncio.run(TaqnyatSmsNotifier(body="hi", recipients=[ALICE]).async_notify({}))
    assert len(sandbox.received("sms")) == 1
