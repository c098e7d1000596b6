"""
The voice operator's audio preflight in DAG runs, against the sandbox's good and broken audio files:
a broken file fails try 1 with a named error and nobody is called; no credential reaches the audio host.
"""

from __future__ import annotations

import pytest

from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    TaqnyatVoiceOperator(
        task_id="call",
        audio_url=__AUDIO_URL__,
        recipients=["966500000000"],
        retries=1,
        retry_delay=datetime.timedelta(0),
        audio_check_timeout=1,
        __ARGUMENTS__
    )
"""


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox):
    pass


def audio(sandbox, name: str) -> str:
    return f"{sandbox.base_url}/_sandbox/audio/{name}"


def call_dag(url: str, arguments: str = "") -> str:
    return DAG.replace("__AUDIO_URL__", repr(url)).replace("__ARGUMENTS__", arguments)


def probes(sandbox) -> list[tuple[str, str, int | None]]:
    return [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in sandbox.received("audio")]


def assert_no_credentials(sandbox) -> None:
    for request in sandbox.received("audio"):
        assert request.auth == "missing"
        assert not {"authorization", "cookie"} & {name.lower() for name in request.headers}
        assert all(sandbox.token not in value for value in request.headers.values())


def test_a_good_file_is_checked_with_one_head_then_called(sandbox, capfd):
    url = audio(sandbox, "reminder.mp3")
    outcome = run_dag(call_dag(url))
    assert (outcome.task("call").state, outcome.task("call").try_number) == ("success", 1)
    assert probes(sandbox) == [("HEAD", "reminder.mp3", 200)]
    [call] = sandbox.received("voice")
    assert call.body["audioUrl"] == url
    # The preflight came before the call.
    assert sandbox.received()[0].endpoint == "audio"
    assert_no_credentials(sandbox)
    assert f"Audio check: {url} is audio (audio/mpeg, 5014 bytes; HEAD)" in capfd.readouterr().out


@pytest.mark.parametrize(
    ("name", "expected_probes", "message"),
    [
        ("404.mp3", [("HEAD", "404.mp3", 404)], "HTTP 404: the file is not there"),
        ("html.mp3", [("HEAD", "html.mp3", 200)], "not audio: the host serves an HTML page"),
        ("empty.mp3", [("HEAD", "empty.mp3", 200)], "the file is empty (Content-Length: 0)"),
        (
            "disguised.mp3",
            [("HEAD", "disguised.mp3", 200), ("GET", "disguised.mp3", 206)],
            "not audio: the file starts like an HTML/XML page",
        ),
        (
            "elsewhere.mp3",
            [("HEAD", "elsewhere.mp3", 302)],
            "redirects (HTTP 302) to another host, http://localhost:",
        ),
    ],
)
def test_a_broken_file_fails_try_1_and_nobody_is_called(sandbox, capfd, name, expected_probes, message):
    outcome = run_dag(call_dag(audio(sandbox, name)))
    task = outcome.task("call")
    assert (task.state, task.try_number) == ("failed", 1)  # not retried although retries=1
    assert sandbox.received("voice") == []
    assert probes(sandbox) == expected_probes  # a cross-host redirect is not followed
    assert_no_credentials(sandbox)
    log = capfd.readouterr().out
    assert "TaqnyatInvalidAudioError: Audio check of" in log
    assert message in log
    assert "Nobody was called" in log


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("slow.mp3?seconds=4", "failed: the audio host could not be reached, or did not answer in time"),
        ("503.mp3", "the audio host answered HTTP 503 (a temporary failure)"),
    ],
)
def test_a_cdn_in_trouble_fails_the_try_and_airflow_retries(sandbox, capfd, name, message):
    outcome = run_dag(call_dag(audio(sandbox, name)))
    task = outcome.task("call")
    assert (task.state, task.try_number) == ("failed", 2)  # retried once, as the task allows
    assert sandbox.received("voice") == []
    log = capfd.readouterr().out
    assert log.count("TaqnyatAudioUnavailableError: Audio check of") >= 2
    assert message in log


@pytest.mark.parametrize(
    ("name", "expected_probes"),
    [
        ("no-head.mp3", [("HEAD", "no-head.mp3", 405), ("GET", "no-head.mp3", 206)]),
        ("moved.mp3", [("HEAD", "moved.mp3", 301), ("HEAD", "reminder.mp3", 200)]),
    ],
)
def test_a_server_without_head_and_a_same_host_redirect_pass(sandbox, name, expected_probes):
    outcome = run_dag(call_dag(audio(sandbox, name)))
    assert outcome.task("call").state == "success"
    assert probes(sandbox) == expected_probes
    assert len(sandbox.received("voice")) == 1
    assert_no_credentials(sandbox)


def test_check_audio_false_calls_without_a_check(sandbox):
    outcome = run_dag(call_dag(audio(sandbox, "404.mp3"), "check_audio=False,"))
    assert outcome.task("call").state == "success"
    assert sandbox.received("audio") == []
    assert len(sandbox.received("voice")) == 1


def test_against_the_sandbox_audio_elsewhere_is_not_checked_unless_always(sandbox, capfd):
    offline = "https://cdn.example.com/audio/reminder.mp3"  # no network here: it cannot be reached
    outcome = run_dag(call_dag(offline))
    assert outcome.task("call").state == "success"
    assert (
        "Audio check skipped for https://cdn.example.com/audio/reminder.mp3: the connection is the local sandbox"
        in (capfd.readouterr().out)
    )
    outcome = run_dag(call_dag(offline, 'check_audio="always",'))
    assert (outcome.task("call").state, outcome.task("call").try_number) == ("failed", 2)
    assert len(sandbox.received("voice")) == 1  # only the first run's
    assert (
        "TaqnyatAudioUnavailableError: Audio check of https://cdn.example.com/audio/reminder.mp3 failed: the audio host could not be reached"
        in (capfd.readouterr().out)
    )


def test_no_netrc_credentials_reach_the_audio_host(sandbox, tmp_path, monkeypatch):
    """Even where the environment applies (``trust_env``) and a .netrc names the audio host."""
    from taqnyat_provider.core.connection_settings import ConnectionSettings
    from taqnyat_provider.hooks.audio import check_audio_url

    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine 127.0.0.1 login someone password netrc-secret\ndefault login any password any\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    settings = ConnectionSettings(base_url="https://api.taqnyat.sa", token="the-token", trust_env=True)
    # The connection is not the sandbox, so its loopback audio needs the operator's opt-in.
    report = check_audio_url(audio(sandbox, "no-head.mp3"), settings, allow_private_hosts=True)
    assert report.checked_with == "ranged GET"
    assert [r.auth for r in sandbox.received("audio")] == ["missing", "missing"]
    # User info in the URL is not sent either.
    url = audio(sandbox, "reminder.mp3").replace("http://", "http://user:url-secret@")
    check_audio_url(url, settings, allow_private_hosts=True)
    assert sandbox.received("audio")[-1].auth == "missing"
