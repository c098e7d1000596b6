"""
Quiet hours in DAG runs, the clock stood at chosen moments: inside the window the send defers to a
DateTimeTrigger until the window ends (run in line by ``dag.test()``), then sends; outside it, or
when urgent, it sends at once.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.dag_runner import run_dag
from tests.operators.runs import stand_clock

pytestmark = pytest.mark.integration

RIYADH = ZoneInfo("Asia/Riyadh")
# Moments in the past, so that the trigger for "07:00 the next morning" fires at once in the test.
AT_2300 = datetime(2025, 1, 5, 23, 0, tzinfo=RIYADH)
AT_0700 = datetime(2025, 1, 6, 7, 0, 1, tzinfo=RIYADH)
AT_1000 = datetime(2025, 1, 6, 10, 0, tzinfo=RIYADH)

DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG, Param
from taqnyat_provider.operators.sms import TaqnyatSmsOperator
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG(
    "__DAG_ID__",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1),
    catchup=False,
    params={"urgent": Param(False, type="boolean"), "quiet_from": "22:00"},
) as dag:
    __OPERATOR__(
        task_id="send",
        recipients=["966500000000"],
        quiet_hours=("{{ params.quiet_from }}", "07:00"),
        urgent="{{ params.urgent }}",
        __ARGUMENTS__
    )
"""
OPERATORS = {
    "voice": ("TaqnyatVoiceOperator", 'audio_url="https://cdn.example.com/reminder.mp3",'),
    "sms": ("TaqnyatSmsOperator", 'body="The nightly load is late",'),
}


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox):
    pass


def dag(channel: str) -> str:
    operator, arguments = OPERATORS[channel]
    return DAG.replace("__OPERATOR__", operator).replace("__ARGUMENTS__", arguments)


def reached(sandbox, channel: str) -> list[str]:
    return sandbox.state.called_numbers() if channel == "voice" else sandbox.state.texted_numbers()


@pytest.mark.parametrize("channel", OPERATORS)
def test_a_run_at_2300_riyadh_defers_and_sends_at_0700(sandbox, monkeypatch, capfd, channel):
    clock = stand_clock(monkeypatch, AT_2300, AT_0700)
    outcome = run_dag(dag(channel))
    assert outcome.task("send").state == "success"
    assert clock.calls == 2  # the first try's check at 23:00, the resumed one's at 07:00
    assert reached(sandbox, channel) == ["966500000000"]
    xcom = outcome.xcom("send")
    assert xcom["deferred_until"] == "2025-01-06T07:00:00+03:00"
    log = capfd.readouterr().out
    assert (
        "Inside quiet hours 22:00-07:00 Asia/Riyadh (now 2025-01-05 23:00 +03): deferring until 2025-01-06 07:00 +03"
        in log
    )
    assert (
        "Quiet hours 22:00-07:00 Asia/Riyadh are over (deferred until 2025-01-06T07:00:00+03:00): sending"
        in log
    )
    # The request went out only after the task resumed from the trigger.
    assert log.index("deferring until") < log.index("are over")


@pytest.mark.parametrize("channel", OPERATORS)
def test_a_run_at_1000_riyadh_sends_at_once(sandbox, monkeypatch, capfd, channel):
    clock = stand_clock(monkeypatch, AT_1000)
    outcome = run_dag(dag(channel))
    assert outcome.task("send").state == "success"
    assert clock.calls == 1
    assert reached(sandbox, channel) == ["966500000000"]
    assert "deferred_until" not in outcome.xcom("send")
    assert "deferring" not in capfd.readouterr().out


def test_urgent_sends_inside_quiet_hours(sandbox, monkeypatch, capfd):
    clock = stand_clock(monkeypatch, AT_2300)
    outcome = run_dag(dag("voice"), run_conf={"urgent": True})
    assert outcome.task("send").state == "success"
    assert clock.calls == 1
    assert sandbox.called_numbers() == ["966500000000"]
    assert (
        "Inside quiet hours 22:00-07:00 Asia/Riyadh, but urgent=True: sending now" in capfd.readouterr().out
    )


def test_the_window_is_templated(sandbox, monkeypatch):
    # From 23:30, 23:00 is outside the window.
    stand_clock(monkeypatch, AT_2300)
    outcome = run_dag(dag("voice"), run_conf={"quiet_from": "23:30"})
    assert outcome.task("send").state == "success"
    assert "deferred_until" not in outcome.xcom("send")


def test_a_bad_rendered_window_fails_before_any_request(sandbox, monkeypatch, capfd):
    stand_clock(monkeypatch, AT_2300)
    outcome = run_dag(dag("voice"), run_conf={"quiet_from": "25:00"})
    assert (outcome.task("send").state, outcome.task("send").try_number) == ("failed", 1)
    assert sandbox.received() == []
    assert "quiet_hours start must be a time like '22:00'" in capfd.readouterr().out


def test_a_scheduled_sms_is_not_deferred(sandbox, monkeypatch):
    """It reaches phones at ``scheduled_at``; deferring its request could only make it miss that time."""
    stand_clock(monkeypatch, AT_2300)
    source = dag("sms").replace(
        'body="The nightly load is late",',
        'body="Good morning", scheduled_at="{{ macros.datetime(2099, 1, 1, 9, 0, tzinfo=macros.dateutil.tz.UTC).isoformat() }}",',
    )
    outcome = run_dag(source)
    assert outcome.task("send").state == "success"
    [request] = sandbox.received("sms")
    assert request.body["scheduledDatetime"] == "2099-01-01T12:00"


def test_a_window_that_is_not_templated_fails_when_the_dag_is_parsed():
    from taqnyat_provider.exceptions import InvalidInputError
    from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

    with pytest.raises(InvalidInputError, match="not a known IANA time zone"):
        TaqnyatVoiceOperator(
            task_id="x",
            audio_url="https://cdn.example.com/a.mp3",
            recipients=["966500000000"],
            quiet_hours=("22:00", "07:00"),
            quiet_hours_timezone="Riyadh",
        )


LATE_AFTER_QUIET = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    TaqnyatVoiceOperator(
        task_id="send",
        audio_url="https://cdn.example.com/reminder.mp3",
        recipients=["966500000000"],
        quiet_hours="22:00-07:00",
        max_lateness=datetime.timedelta(minutes=30),
        min_balance=1,
        retries=1,
        retry_delay=datetime.timedelta(0),
    )
"""


def test_a_send_held_by_quiet_hours_is_not_skipped_as_late_by_its_retry(sandbox, monkeypatch, capfd):
    """
    Due at 23:00, deferred to 07:00; at 07:00 the balance check meets a transient failure; the retry
    at 07:05 is 8 h after the due time but 5 minutes after quiet hours let the send start: it calls.
    """
    from tests.operators.runs import run_dag_due

    sandbox.state.inject("503", endpoint="balance", times=3, retry_after=None)
    at_0705 = datetime(2025, 1, 6, 7, 5, tzinfo=RIYADH)
    clock = stand_clock(monkeypatch, AT_2300, AT_0700, at_0705)
    outcome = run_dag_due(LATE_AFTER_QUIET, AT_2300, scheduled=True, monkeypatch=monkeypatch)
    task = outcome.task("send")
    assert (task.state, task.try_number) == ("success", 2)
    assert clock.calls >= 2
    assert sandbox.state.called_numbers() == ["966500000000"]
    log = capfd.readouterr()
    assert "Skipping" not in log.out + log.err
    assert "started or was deferred on an earlier try" in log.out + log.err


@pytest.mark.parametrize(
    ("zone", "named"),
    [
        ("Mars/Olympus", "'Mars/Olympus' is not a known IANA time zone"),
        ("", "quiet_hours_timezone must be an IANA time zone name"),
        ("+03:00", "'\\+03:00' is not a known IANA time zone"),
    ],
)
def test_a_bad_quiet_hours_timezone_fails_when_the_dag_file_is_parsed(zone, named):
    from taqnyat_provider.exceptions import InvalidInputError
    from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

    with pytest.raises(InvalidInputError, match=named):
        TaqnyatVoiceOperator(
            task_id="call",
            audio_url="https://cdn.example.com/alert.mp3",
            recipients=["966500000000"],
            quiet_hours=("22:00", "07:00"),
            quiet_hours_timezone=zone,
        )


def test_no_window_needs_no_zone():
    from taqnyat_provider.operators.base import quiet_window

    assert quiet_window(None, "Mars/Olympus") is None
    assert quiet_window("", None) is None
    assert str(quiet_window("22:00-07:00", "Asia/Riyadh")) == "22:00-07:00 Asia/Riyadh"
