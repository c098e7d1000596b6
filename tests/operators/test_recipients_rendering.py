"""
A long recipients list of plain numbers is not compiled as Jinja number by number (Airflow would:
some 0.15 ms each, 15 s for 100,000 before the task starts), and renders exactly as before.
"""

from __future__ import annotations

import jinja2
import pytest

from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

AUDIO = "https://cdn.example.com/alert.mp3"
NUMBERS = [f"9665{i:08d}" for i in range(3000)]

DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False,
         params={"on_call": "966512345678"}, render_template_as_native_obj=__NATIVE__) as dag:
    TaqnyatVoiceOperator(task_id="call", audio_url=__AUDIO__, recipients=__RECIPIENTS__, batch_size=1000)
"""


def dag(recipients: list[str], native: bool = False) -> str:
    return (
        DAG.replace("__NATIVE__", repr(native))
        .replace("__AUDIO__", repr(AUDIO))
        .replace("__RECIPIENTS__", repr(recipients))
    )


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


@pytest.fixture
def compiled(monkeypatch):
    """Every string Jinja compiles from here on."""
    sources: list[str] = []
    original = jinja2.Environment.from_string

    def counting(self, source, *args, **kwargs):
        sources.append(source)
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "from_string", counting)
    return sources


def test_plain_numbers_are_not_compiled_one_by_one_and_all_are_called(sandbox, compiled):
    sandbox.state.set_balance("100000")
    outcome = run_dag(dag(NUMBERS))
    assert outcome.state == "success"
    assert sorted(sandbox.state.called_numbers()) == NUMBERS
    assert not set(NUMBERS) & set(compiled)  # the audio URL and the other fields still are
    assert AUDIO in compiled


def test_a_templated_number_among_them_renders_as_before(sandbox, compiled):
    outcome = run_dag(dag([*NUMBERS[:5], "{{ params.on_call }}"]))
    assert outcome.state == "success"
    assert sorted(sandbox.state.called_numbers()) == sorted([*NUMBERS[:5], "966512345678"])
    assert NUMBERS[0] in compiled  # the list holds a template: Airflow renders all of it


def test_a_native_dag_renders_the_list_as_airflow_does(sandbox, compiled):
    # The native environment turns a number's text into an int: rendering is left to Airflow.
    outcome = run_dag(dag(NUMBERS[:5], native=True))
    assert outcome.state == "success"
    assert sorted(sandbox.state.called_numbers()) == NUMBERS[:5]
    assert NUMBERS[0] in compiled
