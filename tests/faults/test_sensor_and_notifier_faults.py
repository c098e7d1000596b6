"""
Fault injection for the status sensor (in the worker and in the triggerer) and both notifiers
(``notify`` and ``async_notify``): what each fault does, and how many requests it cost.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.notifications.sms import TaqnyatSmsNotifier
from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier
from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

ALICE, BOB = "966500000000", "966512345678"

SENSOR_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.sensors.status import TaqnyatStatusSensor

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    TaqnyatStatusSensor(task_id="wait", poke_interval=0.5, timeout={timeout}, deferrable={deferrable})
"""

SENSOR_FAULTS = {
    "429": {"kind": "429", "retry_after": "1"},
    "503": {"kind": "503", "retry_after": "1"},
    "500": {"kind": "500"},
    "502": {"kind": "502"},
    "drop": {"kind": "drop"},
    "hang": {"kind": "hang", "seconds": 3},
    "garbage": {"kind": "garbage"},
    "empty": {"kind": "empty"},
    "error-102": {"kind": "error:102"},
}


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "triggerer"])
@pytest.mark.parametrize("fault", SENSOR_FAULTS)
def test_sensor_rides_out_each_fault(sandbox, capfd, deferrable, fault):
    # Degraded first, so that the deferrable sensor meets the fault in the triggerer.
    sandbox.state.inject("degraded", endpoint="status")
    sandbox.state.inject(endpoint="status", **SENSOR_FAULTS[fault])
    outcome = run_dag(SENSOR_DAG.format(timeout=60, deferrable=deferrable))
    assert outcome.task("wait").state == "success"
    assert outcome.task("wait").try_number == 1
    assert [r.fault for r in sandbox.received("status")] == ["degraded", SENSOR_FAULTS[fault]["kind"], None]
    if not deferrable:  # dag.test() runs the trigger inline, where its log is not captured
        assert "Taqnyat status unavailable, asking again" in capfd.readouterr().out


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "triggerer"])
def test_sensor_times_out_when_the_api_cannot_be_reached(api_unreachable, capfd, deferrable):
    outcome = run_dag(SENSOR_DAG.format(timeout=3, deferrable=deferrable))
    assert outcome.task("wait").state == "failed"
    assert outcome.task("wait").try_number == 1
    log = capfd.readouterr().out
    assert "could not connect" in log
    assert "timed out" in log.lower()


# --------------------------------------------------------------------------------------------------
# Notifiers

NOTIFIERS = {
    "voice": (
        lambda: TaqnyatVoiceNotifier(audio_url="https://cdn.example.com/a.mp3", recipients=[ALICE, BOB])
    ),
    "sms": (lambda: TaqnyatSmsNotifier(body="Pipeline failed", recipients=[ALICE, BOB])),
}
NOTIFIER_FAULTS = {
    "error-3": ({"kind": "error:3"}, exc.TaqnyatInsufficientBalanceError, 1),
    "error-104": ({"kind": "error:104"}, exc.TaqnyatInvalidTokenError, 1),
    "500": ({"kind": "500"}, exc.TaqnyatDeliveryUnknownError, 1),
    "drop": ({"kind": "drop"}, exc.TaqnyatDeliveryUnknownError, 1),
    "hang": ({"kind": "hang", "seconds": 3}, exc.TaqnyatDeliveryUnknownError, 1),
    "garbage": ({"kind": "garbage"}, exc.TaqnyatDeliveryUnknownError, 1),
    "empty": ({"kind": "empty"}, exc.TaqnyatDeliveryUnknownError, 1),
    "429-once": ({"kind": "429"}, None, 2),
    "503-always": ({"kind": "503", "times": 3}, exc.TaqnyatTransientError, 3),
}


def notify(channel: str, mode: str) -> None:
    notifier = NOTIFIERS[channel]()
    if mode == "sync":
        notifier.notify({})
    else:
        asyncio.run(notifier.async_notify({}))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("channel", NOTIFIERS)
@pytest.mark.parametrize("fault", NOTIFIER_FAULTS)
def test_notifier_fault(sandbox, channel, mode, fault):
    injected, error, requests = NOTIFIER_FAULTS[fault]
    sandbox.state.inject(endpoint=channel, **injected)
    if error is None:
        notify(channel, mode)
    else:
        with pytest.raises(error):
            notify(channel, mode)
    assert len(sandbox.received(channel)) == requests
    reached = sandbox.state.called_numbers() if channel == "voice" else sandbox.state.texted_numbers()
    assert len(reached) == len(set(reached))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("channel", NOTIFIERS)
def test_notifier_connection_refused_sends_nothing(sandbox, api_unreachable, channel, mode):
    with pytest.raises(exc.TaqnyatTransientError, match="could not connect"):
        notify(channel, mode)
    assert sandbox.received() == []


# Not "drop": aiohttp itself re-sends an idempotent GET once on a dropped connection (RFC 9112
# 9.3.1), silently; it never does so for a POST, which the notifier tests above prove.
@pytest.mark.parametrize("fault", ["500", "502", "garbage", "empty"])
def test_trigger_logs_the_cause_and_polls_again(sandbox, caplog, capfd, fault):
    from taqnyat_provider.triggers.status import TaqnyatStatusTrigger

    sandbox.state.inject(endpoint="status", **SENSOR_FAULTS[fault])

    async def first_event():
        async for event in TaqnyatStatusTrigger(poll_interval=0.1, deadline=time.time() + 30).run():
            return event.payload

    with caplog.at_level("WARNING"):
        payload = asyncio.run(first_event())
    assert payload["status"] == "success"
    captured = capfd.readouterr()
    logged = caplog.text + captured.out + captured.err  # structlog (Airflow 3) or logging (Airflow 2)
    assert "Taqnyat status unavailable, asking again" in logged
    assert len(sandbox.received("status")) == 2
