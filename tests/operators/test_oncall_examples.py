"""The on-call example DAGs run end to end against the sandbox: escalation, quiet hours, lateness, deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS
from tests.dag_runner import EXAMPLE_DAGS, run_dag
from tests.operators.runs import run_dag_due, stand_clock

pytestmark = pytest.mark.integration

RIYADH = ZoneInfo("Asia/Riyadh")


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox):
    pass


def deadline_example(**replacements: str) -> str:
    source = (EXAMPLE_DAGS / "taqnyat_deadline_call.py").read_text()
    replacements = {
        # A retry 15 minutes later would make dag.test() wait for it.
        "retry_delay=timedelta(minutes=15)": "retry_delay=timedelta(0)",
        # Airflow 3.3.2's dag.test() fails a successful run of a DAG with deadline alerts (it looks
        # them up in a database it never stored them in): they are tested on their own below.
        "    **dag_alerts,\n": "",
        **replacements,
    }
    for old, new in replacements.items():
        assert old in source, old
        source = source.replace(old, new)
    return source.replace('dag_id="taqnyat_deadline_call"', 'dag_id="__DAG_ID__"')


def test_a_good_night_calls_nobody(sandbox):
    outcome = run_dag(deadline_example(), run_conf={"load_seconds": 0})
    assert outcome.state == "success"
    assert outcome.task("call_on_call").state == "skipped"
    assert sandbox.received() == []


def test_escalation_texts_at_the_first_failure_and_calls_when_the_retry_fails(sandbox, monkeypatch):
    stand_clock(monkeypatch, datetime(2025, 1, 6, 10, 0, tzinfo=RIYADH))
    outcome = run_dag(deadline_example(), run_conf={"simulate_failure": True, "load_seconds": 0})
    assert outcome.state == "failed"  # publish is upstream_failed: the run shows the failure
    assert (outcome.task("load").state, outcome.task("load").try_number) == ("failed", 2)
    assert outcome.task("call_on_call").state == "success"
    assert outcome.task("publish").state == "upstream_failed"
    [sms] = sandbox.received("sms")
    assert sms.body["body"].startswith("load of ")
    assert "failed (try 1); retrying in 15 min" in sms.body["body"]
    assert sandbox.called_numbers() == ["966500000000"]
    # The text came first, the call after the retry failed.
    assert [r.endpoint for r in sandbox.received() if r.endpoint in ("sms", "voice")] == ["sms", "voice"]


def test_a_failure_at_night_calls_at_0700_unless_urgent(sandbox, monkeypatch):
    night, morning = datetime(2025, 1, 5, 3, 10, tzinfo=RIYADH), datetime(2025, 1, 5, 7, 0, 1, tzinfo=RIYADH)
    stand_clock(monkeypatch, night, morning)
    outcome = run_dag(deadline_example(), run_conf={"simulate_failure": True, "load_seconds": 0})
    assert outcome.task("call_on_call").state == "success"
    assert outcome.xcom("call_on_call")["deferred_until"] == "2025-01-05T07:00:00+03:00"
    assert sandbox.called_numbers() == ["966500000000"]

    sandbox.state.reset()
    stand_clock(monkeypatch, night)
    outcome = run_dag(
        deadline_example(), run_conf={"simulate_failure": True, "load_seconds": 0, "urgent": True}
    )
    assert "deferred_until" not in outcome.xcom("call_on_call")
    assert sandbox.called_numbers() == ["966500000000"]


def test_the_deadline_alerts_are_set_for_this_airflow():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS / "taqnyat_deadline_call.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag("taqnyat_deadline_call")
    assert dag.doc_md and "Deadline call" in dag.doc_md
    if AIRFLOW_V_3_1_PLUS:
        paths = [alert.callback.path for alert in dag.deadline]
        assert paths == [
            "taqnyat_provider.notifications.voice.TaqnyatVoiceNotifier",
            "taqnyat_provider.notifications.sms.TaqnyatSmsNotifier",
        ]
        assert {alert.interval for alert in dag.deadline} == {timedelta(hours=4)}
    elif not AIRFLOW_V_3_0_PLUS:
        from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier

        assert isinstance(dag.sla_miss_callback, TaqnyatVoiceNotifier)
        assert dag.get_task("load").sla == timedelta(hours=4)


def test_the_recurring_calls_skip_a_run_two_hours_late(sandbox, monkeypatch, capfd):
    source = (EXAMPLE_DAGS / "taqnyat_recurring_calls.py").read_text()
    source = source.replace('dag_id="taqnyat_recurring_calls"', 'dag_id="__DAG_ID__"')
    late = run_dag_due(
        source, datetime.now(UTC) - timedelta(hours=2), scheduled=True, monkeypatch=monkeypatch
    )
    assert (late.task("wait_for_taqnyat").state, late.task("call_rota").state) == ("success", "skipped")
    assert sandbox.received("voice") == []
    assert "more than max_lateness (30m 00s); nothing was sent" in capfd.readouterr().out
    on_time = run_dag_due(source, datetime.now(UTC), scheduled=True, monkeypatch=monkeypatch)
    assert on_time.task("call_rota").state == "success"
    assert sandbox.called_numbers() == ["966500000000", "966512345678"]
