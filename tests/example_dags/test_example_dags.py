"""Every example DAG imports cleanly and runs end to end against the sandbox."""

from __future__ import annotations

import pytest

from tests.dag_runner import EXAMPLE_DAGS, run_example

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def test_example_dags_import_without_errors():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert {dag_id for dag_id in bag.dag_ids if dag_id.startswith("taqnyat_")} == {
        path.stem for path in EXAMPLE_DAGS.glob("taqnyat_*.py")
    }


def test_recurring_calls(sandbox):
    outcome = run_example("taqnyat_recurring_calls")
    assert outcome.state == "success"
    assert outcome.xcom("wait_for_taqnyat")["operational"] is True
    [request] = sandbox.received("voice")
    assert request.body["recipients"] == ["966500000000", "966512345678"]
    assert request.body["audioUrl"] == "https://cdn.example.com/audio/daily-reminder.mp3"
    assert outcome.xcom("call_rota")["accepted"] == ["966500000000", "966512345678"]


def test_failure_call_places_a_call_only_on_failure(sandbox):
    assert run_example("taqnyat_failure_call").state == "success"
    assert sandbox.received("voice") == []
    outcome = run_example("taqnyat_failure_call", run_conf={"simulate_failure": True})
    assert outcome.task("load").state == "failed"
    [request] = sandbox.received("voice")
    assert request.body["recipients"] == ["966500000000"]
    assert request.body["audioUrl"].endswith("pipeline-failed.mp3")


def test_mapped_team_calls(sandbox):
    outcome = run_example("taqnyat_team_calls_mapped")
    assert outcome.state == "success"
    assert [outcome.task("call_team", i).state for i in range(3)] == ["success"] * 3
    assert sorted(r.body["recipients"] for r in sandbox.received("voice")) == sorted(
        [["966500000000", "966500000001"], ["966512345678"], ["966551234567", "966599999999"]]
    )
    assert outcome.xcom("call_team", map_index=1)["accepted"] == ["966512345678"]


def test_daily_sms_digest_is_scheduled_for_0730_riyadh(sandbox):
    outcome = run_example("taqnyat_daily_sms_digest")
    assert outcome.state == "success"
    assert [r.endpoint for r in sandbox.received()] == ["balance", "sms"]
    [request] = sandbox.received("sms")
    assert request.body["recipients"] == ["966500000000", "966512345678"]
    assert request.body["body"].startswith("Pipelines ")
    assert request.body["scheduledDatetime"].endswith("T07:30")
    xcom = outcome.xcom("send_digest")
    assert xcom["scheduled_at"] == request.body["scheduledDatetime"]
    assert xcom["delete_id"] == request.body["deleteId"]
    assert xcom["encoding"] == "UCS-2"
