"""TaqnyatStatusSensor (poke, reschedule, deferrable) and TaqnyatStatusTrigger against the sandbox."""

from __future__ import annotations

import asyncio
import time

import pytest

from taqnyat_provider.sensors.status import TaqnyatStatusSensor
from taqnyat_provider.triggers.status import TaqnyatStatusTrigger
from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

SENSOR_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.sensors.status import TaqnyatStatusSensor

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    TaqnyatStatusSensor(task_id="wait", poke_interval=0.5, {arguments})
"""


def sensor_dag(**arguments: object) -> str:
    return SENSOR_DAG.replace("{arguments}", ", ".join(f"{k}={v!r}" for k, v in arguments.items()))


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_waits_through_degradation(sandbox, capfd, mode):
    sandbox.state.inject("degraded", endpoint="status", times=2)
    outcome = run_dag(sensor_dag(mode=mode, timeout=60))
    assert outcome.task("wait").state == "success"
    assert [r.fault for r in sandbox.received("status")] == ["degraded", "degraded", None]
    assert outcome.xcom("wait") == {
        "operational": True,
        "service": "none",
        "description": "All Services are Operational",
    }
    assert (
        "Taqnyat is not operational yet: service 'voice': Voice service is degraded" in capfd.readouterr().out
    )


def test_deferrable_waits_in_trigger(sandbox, capfd):
    sandbox.state.inject("degraded", endpoint="status", times=3)
    outcome = run_dag(sensor_dag(deferrable=True, timeout=60))
    assert outcome.task("wait").state == "success"
    assert outcome.xcom("wait")["operational"] is True
    # The first poke runs in the worker, the rest in the trigger until the status recovers.
    assert [r.fault for r in sandbox.received("status")] == ["degraded", "degraded", "degraded", None]
    assert "Taqnyat is not operational yet" in capfd.readouterr().out
    assert all(r.auth == "missing" for r in sandbox.received("status"))


@pytest.mark.parametrize("deferrable", [False, True])
def test_transient_faults_do_not_fail_it(sandbox, deferrable):
    for kind in ("500", "drop", "garbage", "empty"):
        sandbox.state.inject(kind, endpoint="status")
    outcome = run_dag(sensor_dag(deferrable=deferrable, timeout=60))
    assert outcome.task("wait").state == "success"
    assert [r.fault for r in sandbox.received("status")][:4] == ["500", "drop", "garbage", "empty"]
    assert len(sandbox.received("status")) == 5


@pytest.mark.parametrize(
    ("deferrable", "soft_fail", "state"),
    [(False, False, "failed"), (False, True, "skipped"), (True, False, "failed"), (True, True, "skipped")],
)
def test_timeout(sandbox, deferrable, soft_fail, state):
    sandbox.state.degrade("voice")
    outcome = run_dag(sensor_dag(deferrable=deferrable, timeout=2, soft_fail=soft_fail, retries=2))
    assert outcome.task("wait").state == state
    assert outcome.task("wait").try_number == 1


def test_execute_defers_then_completes(sandbox):
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred

    sandbox.state.degrade("voice")
    sensor = TaqnyatStatusSensor(task_id="wait", deferrable=True, poke_interval=7, timeout=30)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, TaqnyatStatusTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "taqnyat_provider.triggers.status.TaqnyatStatusTrigger"
    assert kwargs.pop("deadline") == pytest.approx(time.time() + 30, abs=5)
    assert kwargs == {"taqnyat_conn_id": "taqnyat_default", "poll_interval": 7.0}
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == 30
    status = {"operational": True, "service": "none", "description": "All Services are Operational"}
    assert sensor.execute_complete({}, {"status": "success", "system_status": status}) == status
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete({}, {"status": "timeout", "message": "late"})
    with pytest.raises(Exception, match="triggerer: TaqnyatConfigurationError: broken"):
        sensor.execute_complete({}, {"status": "error", "message": "TaqnyatConfigurationError: broken"})


def test_trigger_serialization_round_trip_is_plain():
    import json

    classpath, kwargs = TaqnyatStatusTrigger(
        taqnyat_conn_id="other", poll_interval=5, deadline=1.5e9
    ).serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_trigger_run_degraded_then_operational(sandbox):
    sandbox.state.degrade("voice")
    sandbox.state.inject("503", endpoint="status")

    async def first_event():
        trigger = TaqnyatStatusTrigger(poll_interval=0.2)
        asyncio.get_running_loop().call_later(0.7, sandbox.state.set_status)
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=10))
    assert payload == {
        "status": "success",
        "system_status": {
            "operational": True,
            "service": "none",
            "description": "All Services are Operational",
        },
    }
    requests = sandbox.received("status")
    assert requests[0].status == 503
    assert len({r.client_port for r in requests[1:]}) == 1  # one kept-alive session for the whole wait


def test_trigger_deadline(sandbox):
    sandbox.state.degrade("voice")

    async def first_event():
        async for event in TaqnyatStatusTrigger(poll_interval=0.2, deadline=time.time() + 0.5).run():
            return event.payload

    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=10))
    assert payload["status"] == "timeout"
    assert 2 <= len(sandbox.received("status")) <= 5


def test_trigger_reports_configuration_errors(monkeypatch, sandbox):
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT", json.dumps({"conn_type": "taqnyat", "host": "http://example.com"})
    )

    async def first_event():
        async for event in TaqnyatStatusTrigger(poll_interval=0.1).run():
            return event.payload

    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=10))
    assert payload["status"] == "error"
    assert "clear text" in payload["message"]
