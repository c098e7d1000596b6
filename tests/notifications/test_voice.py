"""TaqnyatVoiceNotifier as a callback, sync and async."""

from __future__ import annotations

import asyncio

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.notifications.voice import TaqnyatVoiceNotifier, send_taqnyat_voice_call
from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration
AUDIO = "https://cdn.example.com/failed.mp3"


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


def test_alias():
    assert send_taqnyat_voice_call is TaqnyatVoiceNotifier


def test_task_failure_places_exactly_one_call(sandbox):
    outcome = run_dag(
        """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.notifications.voice import send_taqnyat_voice_call

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    @task(retries=1, retry_delay=datetime.timedelta(0),
          on_failure_callback=send_taqnyat_voice_call(
              audio_url="https://cdn.example.com/{{ ti.task_id }}.mp3", recipients="+966 50 000 0000"))
    def breaks():
        raise RuntimeError("boom")

    @task(on_failure_callback=send_taqnyat_voice_call(audio_url="https://cdn.example.com/x.mp3",
                                                      recipients=["966512345678"]))
    def fine():
        return 1

    breaks()
    fine()
"""
    )
    assert outcome.task("breaks").state == "failed"
    assert outcome.task("breaks").try_number == 2
    assert outcome.task("fine").state == "success"
    [request] = sandbox.received("voice")
    assert request.body == {
        "recipients": ["966500000000"],
        "callerId": "966500000001",
        "audioUrl": "https://cdn.example.com/breaks.mp3",
    }


def test_notify_and_async_notify_send_the_same_request(sandbox):
    notifier = TaqnyatVoiceNotifier(
        audio_url=AUDIO, recipients=["966500000000", "966512345678"], batch_size=1
    )
    notifier.notify({})
    asyncio.run(notifier.async_notify({}))
    bodies = [r.body for r in sandbox.received("voice")]
    assert bodies[:2] == bodies[2:]
    assert [b["recipients"] for b in bodies] == [["966500000000"], ["966512345678"]] * 2


def test_notifier_validates_before_sending(sandbox):
    with pytest.raises(exc.InvalidRecipientsError, match="'123'"):
        TaqnyatVoiceNotifier(audio_url=AUDIO, recipients=["123"]).notify({})
    with pytest.raises(exc.InvalidInputError, match="audio_url"):
        asyncio.run(TaqnyatVoiceNotifier(audio_url="x", recipients=["966500000000"]).async_notify({}))
    assert sandbox.received() == []


def test_async_notify_never_resends_unknown_outcome(sandbox):
    sandbox.state.inject("500", endpoint="voice")
    with pytest.raises(exc.TaqnyatDeliveryUnknownError):
        asyncio.run(TaqnyatVoiceNotifier(audio_url=AUDIO, recipients=["966500000000"]).async_notify({}))
    assert len(sandbox.received("voice")) == 1


class _Unreachable:
    """A task state store whose API server is down: every call fails."""

    def get(self, key, default=None):
        raise RuntimeError("API server: 503 Service Unavailable")

    def set(self, key, value, *, retention=None):
        raise RuntimeError("API server: 503 Service Unavailable")


@pytest.mark.parametrize("how", ["notify", "async_notify"])
def test_a_ledger_that_cannot_be_reached_does_not_drop_the_alert(sandbox, caplog, capfd, how):
    """An alert matters more than its ledger: the call goes out once, and a warning says why unledgered."""
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, try_number=1, max_tries=1)
    context = {"ti": ti, "task_state_store": _Unreachable()}
    notifier = TaqnyatVoiceNotifier(audio_url=AUDIO, recipients=["966500000000"])
    notifier.render_template_fields = lambda context, jinja_env=None: None  # nothing to render here
    call = getattr(notifier, how)
    with caplog.at_level("WARNING"):
        asyncio.run(call(context)) if how == "async_notify" else call(context)
    assert sandbox.called_numbers() == ["966500000000"]
    # Airflow 3 logs through structlog (to the terminal), 2.11 through logging.
    logged = capfd.readouterr()
    text = logged.out + logged.err + "".join(r.getMessage() for r in caplog.records)
    assert "The send ledger failed before anything was sent" in text
