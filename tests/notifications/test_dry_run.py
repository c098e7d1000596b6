"""``dry_run`` and ``max_recipients`` on both notifiers: a rehearsal sends nothing and writes no ledger."""

from __future__ import annotations

import asyncio

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.notifications.sms import TaqnyatSmsNotifier
from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier
from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS
from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

AUDIO = "https://cdn.example.com/failed.mp3"
NUMBERS = ["966500000000", "966512345678", "966551234567"]


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def notifier(channel: str, **arguments: object) -> TaqnyatVoiceNotifier | TaqnyatSmsNotifier:
    if channel == "voice":
        return TaqnyatVoiceNotifier(audio_url=AUDIO, recipients=NUMBERS, batch_size=2, **arguments)
    return TaqnyatSmsNotifier(body="The load failed", recipients=NUMBERS, batch_size=2, **arguments)


@pytest.mark.parametrize("channel", ["voice", "sms"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_dry_run_sends_nothing_and_describes_what_a_real_send_posts(sandbox, channel, mode):
    def call(instance):
        if mode == "sync":
            instance.notify({})
        else:
            asyncio.run(instance.async_notify({}))

    rehearsal = notifier(channel, dry_run="true")
    call(rehearsal)
    assert sandbox.received() == []
    result = rehearsal.dry_run_result
    assert result is not None
    assert (result["dry_run"], result["recipients"], result["total_batches"]) == (True, 3, 2)

    call(notifier(channel))
    posted = sandbox.received(channel)
    assert [request["json"] for request in result["requests"]] == [request.body for request in posted]


def ledger_keys(dag_id: str) -> set[str]:
    """Send-ledger keys: this DAG's task state store rows (3.3+), or every ledger Variable (2.11)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        if AIRFLOW_V_3_0_PLUS:
            from airflow.models.task_state_store import TaskStateStoreModel

            return {row.key for row in session.query(TaskStateStoreModel).filter_by(dag_id=dag_id)}
        from airflow.models.variable import Variable

        return {row.key for row in session.query(Variable).filter(Variable.key.like("taqnyat_ledger.%"))}


CALLBACK_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.notifications.sms import send_taqnyat_sms

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1),
         params={"rehearse": True}) as dag:
    @task(on_failure_callback=send_taqnyat_sms(
        body="{{ ti.task_id }} failed", recipients=["966500000000", "966512345678"],
        dry_run="{{ params.rehearse }}"))
    def breaks():
        raise RuntimeError("boom")

    breaks()
"""


def test_a_failure_callback_dry_run_sends_nothing_and_logs_the_rendered_message(sandbox, capfd):
    before = ledger_keys("")
    outcome = run_dag(CALLBACK_DAG)
    assert outcome.task("breaks").state == "failed"
    assert sandbox.received() == []
    log = capfd.readouterr().out
    assert "Dry run: would send an SMS to 2 recipient(s) in 1 request(s) to v1/messages" in log
    assert "'body': 'breaks failed'" in log
    assert ledger_keys(outcome.dag_id) - before == set()

    # The same callback, not rehearsed: it texts, and its ledger is where the query above looks.
    real = run_dag(CALLBACK_DAG, run_conf={"rehearse": False})
    assert [r.body["recipients"] for r in sandbox.received("sms")] == [["966500000000", "966512345678"]]
    assert ledger_keys(real.dag_id) - before != set()


def test_a_dry_run_still_checks_recipients_and_the_cap(sandbox):
    with pytest.raises(exc.InvalidRecipientsError, match="'123'"):
        TaqnyatVoiceNotifier(audio_url=AUDIO, recipients=["123"], dry_run=True).notify({})
    with pytest.raises(exc.TooManyRecipientsError, match=r"3 recipients, more than max_recipients \(2\)"):
        notifier("sms", dry_run=True, max_recipients=2).notify({})
    assert sandbox.received() == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_notifier_over_its_cap_sends_nothing(sandbox, mode):
    instance = notifier("voice", max_recipients=2)
    with pytest.raises(exc.TooManyRecipientsError, match=r"3 recipients, more than max_recipients \(2\)"):
        if mode == "sync":
            instance.notify({})
        else:
            asyncio.run(instance.async_notify({}))
    assert sandbox.received() == []


@pytest.mark.parametrize(("argument", "value"), [("dry_run", "perhaps"), ("max_recipients", 0)])
def test_bad_arguments_fail_at_construction(argument, value):
    with pytest.raises(exc.InvalidInputError, match=argument):
        notifier("sms", **{argument: value})
