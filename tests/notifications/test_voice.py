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
