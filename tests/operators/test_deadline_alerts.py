"""
The notifiers as deadline-alert callbacks (Airflow 3.1+): ``AsyncCallback(TaqnyatVoiceNotifier, kwargs=...)``
run by Airflow's own ``CallbackTrigger``, as the triggerer runs it, with the context the scheduler
gives a missed deadline. On Airflow 2.11 the same notifiers serve as ``sla_miss_callback``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from taqnyat_provider.notifications.sms import TaqnyatSmsNotifier
from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier
from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

pytestmark = pytest.mark.integration

# What the scheduler hands a missed deadline's callback (Deadline.handle_miss): the run as the
# REST API's DAGRunResponse dumps it (its id is ``dag_run_id``), and the deadline.
MISSED = {
    "dag_run": {
        "dag_run_id": "scheduled__2026-01-05T23:00:00+00:00",
        "dag_id": "nightly_load",
        "logical_date": "2026-01-05T23:00:00Z",
        "queued_at": "2026-01-05T23:00:01Z",
        "run_after": "2026-01-05T23:00:00Z",
        "run_type": "scheduled",
        "state": "running",
        "conf": {},
    },
    "deadline": {"id": "0199a7c0-0000-7000-8000-000000000001", "deadline_time": "2026-01-06T03:00:00+00:00"},
}


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox):
    pass


def run_in_triggerer(callback, context: dict) -> list[dict]:
    """Run a deadline alert's callback the way the triggerer does: Airflow's CallbackTrigger, its events."""
    from airflow.triggers.callback import CallbackTrigger

    serialized = callback.serialize()
    trigger = CallbackTrigger(serialized["path"], {**serialized["kwargs"], "context": context})

    async def events() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(events())


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="DeadlineAlert is Airflow 3.1+")
def test_a_missed_deadline_places_one_call_and_texts_the_dag_id(sandbox, caplog, capfd):
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    call = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=4),
        callback=AsyncCallback(
            TaqnyatVoiceNotifier,
            kwargs={"audio_url": "https://cdn.example.com/load-late.mp3", "recipients": ["966500000000"]},
        ),
    )
    text = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=4),
        callback=AsyncCallback(
            TaqnyatSmsNotifier,
            kwargs={
                "body": "{{ dag_run.dag_id }} missed its deadline ({{ dag_run.run_id }})",
                "recipients": ["966512345678"],
            },
        ),
    )
    assert call.callback.serialize()["path"] == "taqnyat_provider.notifications.voice.TaqnyatVoiceNotifier"

    with caplog.at_level("INFO"):
        assert [e["state"] for e in run_in_triggerer(call.callback, MISSED)] == ["running", "success"]
        assert [e["state"] for e in run_in_triggerer(text.callback, MISSED)] == ["running", "success"]

    assert sandbox.called_numbers() == ["966500000000"]
    [sms] = sandbox.received("sms")
    assert sms.body["body"] == "nightly_load missed its deadline (scheduled__2026-01-05T23:00:00+00:00)"
    logged = caplog.text + capfd.readouterr().out
    assert (
        "Deadline missed by DAG nightly_load, run scheduled__2026-01-05T23:00:00+00:00 "
        "(deadline 2026-01-06T03:00:00+00:00): sending a voice call to 1 recipient(s)"
    ) in logged
    assert sandbox.token not in logged


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="DeadlineAlert is Airflow 3.1+")
def test_a_failed_alert_is_reported_as_failed_to_airflow(sandbox):
    from airflow.sdk import AsyncCallback

    sandbox.state.inject("error:3", endpoint="voice")
    callback = AsyncCallback(
        TaqnyatVoiceNotifier,
        kwargs={"audio_url": "https://cdn.example.com/a.mp3", "recipients": ["966500000000"]},
    )
    events = run_in_triggerer(callback, MISSED)
    assert events[-1]["state"] == "failed"
    assert "TaqnyatInsufficientBalanceError" in events[-1]["body"]
    assert sandbox.called_numbers() == []


@pytest.mark.skipif(
    AIRFLOW_V_3_0_PLUS, reason="sla_miss_callback is Airflow 2's; Airflow 3 has DeadlineAlert"
)
def test_on_airflow_2_the_notifier_is_an_sla_miss_callback(sandbox):
    """Airflow 2.11 calls ``sla_miss_callback(dag, task_list, blocking_task_list, slas, blocking_tis)``."""
    from airflow.models.dag import DAG

    notifier = TaqnyatSmsNotifier(
        body="{{ dag.dag_id }} missed its SLA: {{ task_list }}", recipients=["966512345678"]
    )
    notifier(DAG("nightly_load", schedule=None), "load on 2026-01-05", "", [], [])
    [sms] = sandbox.received("sms")
    assert sms.body["body"] == "nightly_load missed its SLA: load on 2026-01-05"
