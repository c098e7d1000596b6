"""
``dry_run`` on both send operators, in DAG runs against the sandbox: every check a send makes, the
request bodies it would post in XCom (the very bodies a real send posts), counts in the log, and
nothing sent, no send ledger written, no deferral nor skip.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from taqnyat_provider.exceptions import InvalidInputError
from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS
from tests.dag_runner import DagOutcome, run_dag
from tests.operators.runs import run_dag_due, stand_clock

pytestmark = pytest.mark.integration

NUMBERS = [f"96650000{i:04d}" for i in range(250)]
RIYADH = ZoneInfo("Asia/Riyadh")
AT_2300 = datetime(2025, 1, 5, 23, 0, tzinfo=RIYADH)
SEND_ENDPOINTS = {"voice": "voice", "sms": "sms"}

DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.sms import TaqnyatSmsOperator
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False,
         params={"dry_run": False}) as dag:
    __OPERATOR__(
        task_id="send",
        retries=2,
        retry_delay=datetime.timedelta(0),
        dry_run="{{ params.dry_run }}",
        __ARGUMENTS__
    )
"""
OPERATORS = {
    "voice": ("TaqnyatVoiceOperator", 'audio_url="https://cdn.example.com/reminder.mp3",'),
    "sms": ("TaqnyatSmsOperator", 'body="The nightly load is late",'),
}


def dag(channel: str, arguments: str = "") -> str:
    operator, own = OPERATORS[channel]
    return DAG.replace("__OPERATOR__", operator).replace("__ARGUMENTS__", own + arguments)


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def ledger_keys(outcome: DagOutcome) -> list[str]:
    """
    Every send-ledger key this run's task wrote where the provider keeps them on this Airflow: its
    task state store (3.3+) or ``taqnyat_ledger.*`` Variables (2.11; the space is this run's).
    """
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.task_state_store import TaskStateStoreModel

        with create_session() as session:
            rows = session.query(TaskStateStoreModel).filter_by(dag_id=outcome.dag_id, run_id=outcome.run_id)
            return [row.key for row in rows]
    from airflow.models.variable import Variable

    from taqnyat_provider.core.ledger import variable_space

    space = variable_space(dag_id=outcome.dag_id, run_id=outcome.run_id, task_id="send", map_index=-1)
    with create_session() as session:
        return [row.key for row in session.query(Variable).filter(Variable.key.like(f"{space}%"))]


def all_ledger_variables() -> set[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return {row.key for row in session.query(Variable).filter(Variable.key.like("taqnyat_ledger.%"))}


@pytest.mark.parametrize("channel", ["voice", "sms"])
def test_a_dry_run_posts_nothing_and_its_bodies_are_what_the_real_send_posts(sandbox, capfd, channel):
    source = dag(channel, f"recipients={NUMBERS!r}, batch_size=100, min_balance='1',")
    variables_before = all_ledger_variables()
    rehearsed = run_dag(source, run_conf={"dry_run": True})
    assert (rehearsed.state, rehearsed.task("send").try_number) == ("success", 1)
    # Nothing sent; only the balance check (min_balance) reached the API.
    assert sandbox.received(SEND_ENDPOINTS[channel]) == []
    assert [r.endpoint for r in sandbox.received() if r.endpoint != "status"] == ["balance"]
    assert sandbox.called_numbers() == [] and sandbox.texted_numbers() == []
    # No send ledger: no task state store row (3.3), no ledger Variable (2.11).
    assert ledger_keys(rehearsed) == []
    assert all_ledger_variables() == variables_before
    xcom = rehearsed.xcom("send")
    log = capfd.readouterr().out

    real = run_dag(source)  # params.dry_run is False by default: the real send
    assert real.state == "success"
    posted = sandbox.received(SEND_ENDPOINTS[channel])
    assert [request["json"] for request in xcom["requests"]] == [request.body for request in posted]
    assert {request["endpoint"] for request in xcom["requests"]} == {posted[0].path.lstrip("/")}
    # The query finds a real send's ledger: its emptiness for the dry run above means something.
    assert ledger_keys(real) != []

    assert xcom["dry_run"] is True
    assert (xcom["recipients"], xcom["total_batches"]) == (250, 3)
    assert [batch["recipients"] for batch in xcom["batches"]] == [100, 100, 50]
    assert {batch["status"] for batch in xcom["batches"]} == {"dry_run"}
    assert (xcom["accepted"], xcom["message_ids"], xcom["cost"]) == ([], [], None)
    assert xcom["balance"]["min_balance"] == "1"
    if channel == "sms":  # the body's summary, as a real send gives it
        assert (xcom["segments"], xcom["encoding"]) == (1, "GSM-7")
        assert real.xcom("send")["segments"] == 1
    # Counts and a sample in the log, never the whole list of numbers.
    what = "a voice call" if channel == "voice" else "an SMS"
    assert f"Dry run: would send {what} to 250 recipient(s) in 3 request(s)" in log
    dry_lines = [line for line in log.splitlines() if "Dry run" in line]
    assert not any(NUMBERS[-1] in line for line in dry_lines)
    assert "(245 more)" in log


def test_dry_run_xcom_size_is_about_16_bytes_per_recipient():
    """What the docs promise about the XCom of a huge dry run (the bodies are always included)."""
    from taqnyat_provider.core.connection_settings import ConnectionSettings
    from taqnyat_provider.core.dry_run import rehearsal
    from taqnyat_provider.core.endpoints.voice import VoiceCall

    numbers = [f"9665{i:08d}" for i in range(100_000)]
    settings = ConnectionSettings("http://127.0.0.1:1", "t", caller_id="966500000001")
    prepared = VoiceCall("https://cdn.example.com/a.mp3", numbers).prepare(settings)
    size = len(json.dumps(rehearsal(prepared, 1000), separators=(",", ":")))
    assert 1_500_000 < size < 1_800_000


@pytest.mark.parametrize("channel", ["voice", "sms"])
def test_a_dry_run_with_an_invalid_recipient_fails_naming_it(sandbox, capfd, channel):
    outcome = run_dag(dag(channel, "recipients=['966500000000', '12345'],"), run_conf={"dry_run": True})
    task = outcome.task("send")
    assert (task.state, task.try_number) == ("failed", 1)
    assert sandbox.received() == []
    assert "Invalid recipients, nothing was sent: '12345'" in capfd.readouterr().out


def test_a_bad_dry_run_value_fails_the_task_and_sends_nothing(sandbox, capfd):
    outcome = run_dag(dag("voice", "recipients=['966500000000'],"), run_conf={"dry_run": "maybe"})
    task = outcome.task("send")
    assert (task.state, task.try_number) == ("failed", 1)
    assert sandbox.received() == []
    assert "dry_run must be true or false, got 'maybe'" in capfd.readouterr().out


@pytest.mark.parametrize("value", ["maybe", 2, 1.0, ["True"]])
def test_a_bad_dry_run_fails_when_the_dag_is_parsed(value):
    from taqnyat_provider.operators.sms import TaqnyatSmsOperator

    with pytest.raises(InvalidInputError, match="dry_run must be true or false"):
        TaqnyatSmsOperator(task_id="t", body="x", recipients=["966500000000"], dry_run=value)


@pytest.mark.parametrize(("value", "expected"), [("True", True), ("false", False), ("", False), (1, True)])
def test_dry_run_reads_what_a_template_renders(value, expected):
    from taqnyat_provider.core.dry_run import read_dry_run

    assert read_dry_run(value) is expected


def test_airflows_own_dry_run_method_still_works():
    """``BaseOperator.dry_run()`` (``airflow tasks test --dry-run``) is not shadowed by the argument."""
    from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

    operator = TaqnyatVoiceOperator(
        task_id="t", audio_url="https://cdn.example.com/a.mp3", recipients=["966500000000"], dry_run=True
    )
    assert callable(operator.dry_run) and operator.send_dry_run is True


def test_a_dry_run_checks_the_audio_file(sandbox, capfd):
    audio = f"{sandbox.base_url}/_sandbox/audio/404.mp3"
    source = dag("voice", "recipients=['966500000000'],").replace(
        'audio_url="https://cdn.example.com/reminder.mp3",', f"audio_url={audio!r},"
    )
    outcome = run_dag(source, run_conf={"dry_run": True})
    assert (outcome.task("send").state, outcome.task("send").try_number) == ("failed", 1)
    assert [r.endpoint for r in sandbox.received()] == ["audio"]  # the check, no call
    assert "Audio check of" in capfd.readouterr().out


def test_a_dry_run_checks_the_balance(sandbox, capfd):
    sandbox.set_balance("0.5")
    outcome = run_dag(
        dag("sms", "recipients=['966500000000'], min_balance='10',"), run_conf={"dry_run": True}
    )
    assert (outcome.task("send").state, outcome.task("send").try_number) == ("failed", 1)
    assert [r.endpoint for r in sandbox.received()] == ["balance"]
    assert "below min_balance 10; nothing was sent" in capfd.readouterr().out


def test_a_dry_run_in_quiet_hours_reports_the_deferral_instead_of_deferring(sandbox, monkeypatch, capfd):
    stand_clock(monkeypatch, AT_2300)
    outcome = run_dag(
        dag("voice", "recipients=['966500000000'], quiet_hours='22:00-07:00',"), run_conf={"dry_run": True}
    )
    assert (outcome.state, outcome.task("send").try_number) == ("success", 1)
    assert sandbox.received() == []
    assert ledger_keys(outcome) == []  # not even the "deferred" marker a real deferral writes
    guards = outcome.xcom("send")["guards"]
    assert guards["quiet_hours"] == {
        "window": "22:00-07:00 Asia/Riyadh",
        "applies": True,
        "inside": True,
        "urgent": False,
        "would_defer_until": "2025-01-06T07:00:00+03:00",
    }
    assert "deferring" not in capfd.readouterr().out


def test_a_late_scheduled_dry_run_reports_the_skip_instead_of_skipping(sandbox, monkeypatch):
    due = datetime(2025, 1, 6, 9, 0, tzinfo=RIYADH)
    stand_clock(monkeypatch, due + timedelta(hours=3))
    source = dag("sms", "recipients=['966500000000'], max_lateness=datetime.timedelta(minutes=30),")
    source = source.replace('dry_run="{{ params.dry_run }}"', "dry_run=True")
    outcome = run_dag_due(source, due, scheduled=True, monkeypatch=monkeypatch)
    assert outcome.task("send").state == "success"
    assert sandbox.received() == []
    lateness = outcome.xcom("send")["guards"]["max_lateness"]
    assert (lateness["would_skip"], lateness["late_seconds"], lateness["max_lateness_seconds"]) == (
        True,
        3 * 3600,
        1800,
    )


def test_the_dry_run_rules_are_pure_core():
    """``taqnyat_provider.core.dry_run`` sits in the core: it imports neither Airflow nor an HTTP library."""
    import subprocess
    import sys

    code = "import sys, taqnyat_provider.core.dry_run; print(' '.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert not {m for m in loaded.split() if m.split(".")[0] in ("airflow", "requests", "aiohttp", "urllib3")}
