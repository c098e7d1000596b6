"""TaqnyatHook and TaqnyatAsyncHook against the sandbox: requests counted where they arrive."""

from __future__ import annotations

import io
import json
import socket

import pytest
import requests

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.voice import VoiceCall
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from tests.hooks.running import run_async_hook

AUDIO = "https://cdn.example.com/alert.mp3"
OWN_TOKEN = "sbx-own-9f3c1e7a5b2d4c6e8f0a1b3c5d7e9f2a"
ALICE, BOB = "966500000000", "966512345678"


@pytest.fixture
def hook(sandbox, fast_retries):
    hook = TaqnyatHook()
    yield hook
    hook.close()


def test_status_is_read_without_the_token(hook, sandbox):
    status = hook.get_system_status()
    assert status.operational
    [request] = sandbox.received("status")
    assert request.auth == "missing"
    assert "Authorization" not in request.headers


def test_balance_with_token(hook, sandbox):
    assert str(hook.get_balance().balance) == "100.000"
    assert sandbox.received("balance")[0].headers["Authorization"] == "Bearer <redacted>"
    assert sandbox.received("balance")[0].auth == "ok"


def test_wrong_token(sandbox, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps({"conn_type": "taqnyat", "host": sandbox.base_url, "password": "wrong"}),
    )
    with pytest.raises(exc.TaqnyatInvalidTokenError, match="104"):
        TaqnyatHook().get_balance()
    ok, message = TaqnyatHook().test_connection()
    assert not ok
    assert "Invalid Bearer Tokens" in message or "104" in message


def test_test_connection_reads_balance_and_never_posts(hook, sandbox):
    ok, message = hook.test_connection()
    assert ok, message
    assert "100.000 SAR" in message
    assert [r.method for r in sandbox.received()] == ["GET"]


def test_send_voice_body(hook, sandbox):
    result = hook.send_voice(AUDIO, "+966 50 000 0001", ["+966 50 000 0000", BOB])
    [request] = sandbox.received("voice")
    assert request.body == {"recipients": [ALICE, BOB], "callerId": "966500000001", "audioUrl": AUDIO}
    assert result.accepted == [ALICE, BOB]
    assert result.message_id
    assert sandbox.state.called_numbers() == [ALICE, BOB]


def test_invalid_input_sends_nothing(hook, sandbox):
    with pytest.raises(exc.InvalidRecipientsError):
        hook.send_voice(AUDIO, None, ["nope"])
    with pytest.raises(exc.InvalidInputError, match="audio_url"):
        hook.send_voice("alert.mp3", None, [ALICE])
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", ["429", "503"])
def test_send_retried_when_provably_not_processed(hook, sandbox, kind):
    sandbox.state.inject(kind, endpoint="voice", retry_after="1")
    hook.send_voice(AUDIO, None, [ALICE])
    assert [r.status for r in sandbox.received("voice")] == [int(kind), 201]
    assert sandbox.state.called_numbers() == [ALICE]


def test_send_gives_up_as_transient_when_429_persists(hook, sandbox):
    sandbox.state.inject("429", endpoint="voice", times=5)
    with pytest.raises(exc.TaqnyatTransientError, match="429"):
        hook.send_voice(AUDIO, None, [ALICE])
    assert len(sandbox.received("voice")) == 3
    assert sandbox.state.called_numbers() == []


@pytest.mark.parametrize("kind", ["500", "502", "504", "drop", "hang", "garbage", "empty"])
def test_send_never_repeated_when_outcome_unknown(hook, sandbox, kind):
    sandbox.state.inject(kind, endpoint="voice", seconds=5)
    with pytest.raises(exc.TaqnyatDeliveryUnknownError, match="Delivery unknown"):
        hook.send_voice(AUDIO, None, [ALICE])
    assert len(sandbox.received("voice")) == 1


def test_send_retried_when_connection_refused(sandbox, monkeypatch, fast_retries):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps({"conn_type": "taqnyat", "host": f"http://127.0.0.1:{closed_port}", "password": "x"}),
    )
    with pytest.raises(exc.TaqnyatTransientError, match="could not connect"):
        TaqnyatHook().send_voice(AUDIO, "966500000001", [ALICE])


@pytest.mark.parametrize("kind", ["500", "drop", "hang", "503"])
def test_reads_retry_through_transient_faults(hook, sandbox, kind):
    sandbox.state.inject(kind, endpoint="balance", seconds=5)
    assert hook.get_balance().currency == "SAR"
    assert len(sandbox.received("balance")) == 2


@pytest.mark.parametrize("code", [2, 3, 14, 15, 17, 101, 102, 104])
def test_api_errors_are_not_retried(hook, sandbox, code):
    sandbox.state.inject(f"error:{code}", endpoint="voice")
    with pytest.raises(exc.TaqnyatApiError) as raised:
        hook.send_voice(AUDIO, None, [ALICE])
    assert raised.value.code == code
    assert len(sandbox.received("voice")) == 1


def test_sandbox_validates_like_the_service(hook, sandbox):
    prepared = VoiceCall(AUDIO, [ALICE]).prepare(hook.settings)
    for payload, code in [
        ({**prepared.payload([ALICE]), "callerId": "Brand"}, 14),
        ({**prepared.payload([]), "recipients": []}, 15),
        ({**prepared.payload([ALICE]), "audioUrl": "https://example.com/page.html"}, 17),
    ]:
        # Straight over HTTP: the hook posts to a send endpoint only through its send ledger.
        answer = requests.post(
            f"{sandbox.base_url}/voiceSend.php/",
            json=payload,
            headers={"Authorization": f"Bearer {hook.settings.token}"},
            timeout=10,
        )
        assert answer.status_code == 400
        assert answer.json()["Error"]["ErrorCode"] == code


def test_balance_is_consumed_and_runs_out(hook, sandbox):
    sandbox.state.set_balance("0.300")
    hook.send_voice(AUDIO, None, [ALICE])
    with pytest.raises(exc.TaqnyatInsufficientBalanceError):
        hook.send_voice(AUDIO, None, [ALICE])
    sandbox.state.set_balance("0")
    with pytest.raises(exc.TaqnyatBalanceEmptyError):
        hook.send_voice(AUDIO, None, [ALICE])


def test_batches_share_one_connection(hook, sandbox):
    numbers = [f"9665000{i:05d}" for i in range(250)]
    report = hook.place_voice_calls(AUDIO, numbers, batch_size=100)
    requests = sandbox.received("voice")
    assert [len(r.body["recipients"]) for r in requests] == [100, 100, 50]
    assert len({r.client_port for r in requests}) == 1
    assert sorted(sandbox.state.called_numbers()) == sorted(numbers)
    assert len(report.to_xcom()["message_ids"]) == 3


def test_405_for_wrong_method(hook, sandbox):
    # Straight over HTTP: the hook writes only through its sends and the scheduled-SMS cancel.
    answer = requests.post(f"{sandbox.base_url}/system/status/", timeout=10)
    assert answer.status_code == 405
    assert answer.json() == {"statusCode": 405, "message": "Method Not Allowed"}
    answer = hook.request("GET", "v1/nothing-here", authenticated=False)
    assert answer.status == 404
    assert [(r.method, r.endpoint, r.status) for r in sandbox.received()] == [
        ("POST", "unknown", 405),
        ("GET", "unknown", 404),
    ]


def test_token_never_in_sandbox_console_or_records(monkeypatch, fast_retries):
    from taqnyat_provider.sandbox import SandboxServer

    console = io.StringIO()
    with SandboxServer(token=OWN_TOKEN, console=console) as own:
        monkeypatch.setenv("AIRFLOW_CONN_TAQNYAT_DEFAULT", own.connection_json())
        hook = TaqnyatHook()
        hook.get_balance()
        hook.send_voice(AUDIO, "966500000001", [ALICE])
        snapshot = json.dumps(own.state.snapshot())
    assert "POST /voiceSend.php/ -> 201 auth=ok recipients=1" in console.getvalue()
    assert OWN_TOKEN not in console.getvalue()
    assert OWN_TOKEN not in snapshot


class TestAsyncHook:
    def test_status_and_calls(self, sandbox, fast_retries):
        async def scenario(hook):
            status = await hook.get_system_status()
            sandbox.state.inject("429", endpoint="voice")
            report = await hook.place_voice_calls(AUDIO, [ALICE, BOB], batch_size=1)
            return status, report

        status, report = run_async_hook(scenario)
        assert status.operational
        assert report.accepted == [ALICE, BOB]
        assert [r.status for r in sandbox.received("voice")] == [429, 201, 201]
        assert sandbox.received("status")[0].auth == "missing"
        assert sandbox.received("voice")[0].auth == "ok"

    @pytest.mark.parametrize("kind", ["500", "drop", "hang", "garbage"])
    def test_unknown_outcome_never_repeated(self, sandbox, fast_retries, kind):
        sandbox.state.inject(kind, endpoint="voice", seconds=5)
        with pytest.raises(exc.TaqnyatDeliveryUnknownError):
            run_async_hook(lambda hook: hook.place_voice_calls(AUDIO, [ALICE]))
        assert len(sandbox.received("voice")) == 1

    def test_failure_after_a_delivered_batch_is_incomplete_delivery(self, sandbox, fast_retries):
        sandbox.state.inject("drop", endpoint="voice", skip=1)
        with pytest.raises(exc.IncompleteDeliveryError) as raised:
            run_async_hook(
                lambda hook: hook.place_voice_calls(AUDIO, [ALICE, BOB, "966511111111"], batch_size=1)
            )
        assert (raised.value.reached, raised.value.maybe_reached, raised.value.not_reached) == (
            [ALICE],
            [BOB],
            ["966511111111"],
        )
        assert [r.body["recipients"] for r in sandbox.received("voice")] == [[ALICE], [BOB]]
