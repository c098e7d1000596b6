"""TaqnyatHook's SMS calls against the sandbox: what arrived, what came back, what never goes twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.account import Sender
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from tests.hooks.running import run_async_hook

ALICE, BOB, CAROL = "966500000000", "966512345678", "966551234567"


@pytest.fixture
def hook(sandbox, fast_retries):
    hook = TaqnyatHook()
    yield hook
    hook.close()


def in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def test_send_sms_body_and_report(hook, sandbox):
    report = hook.send_sms("Backup finished ✅", ["+966 50 000 0000", BOB])
    [request] = sandbox.received("sms")
    assert request.method == "POST"
    assert request.path == "/v1/messages"
    assert request.body == {"recipients": [ALICE, BOB], "body": "Backup finished ✅", "sender": "Taqnyat.sa"}
    assert request.auth == "ok"
    xcom = report.to_xcom()
    assert xcom["accepted"] == [ALICE, BOB]
    assert xcom["rejected"] == []
    assert xcom["message_ids"] == [str(sandbox.state.messages[0]["message_id"])]
    assert (xcom["cost"], xcom["currency"]) == ("0.052", "SAR")
    assert (xcom["encoding"], xcom["segments"], xcom["message_length"]) == ("UCS-2", 1, 17)


def test_long_arabic_body_is_billed_per_part(hook, sandbox):
    report = hook.send_sms("ت" * 100, [ALICE])
    assert report.to_xcom()["segments"] == 2
    assert report.to_xcom()["cost"] == "0.052"


def test_scheduled_send_then_delete(hook, sandbox):
    report = hook.send_sms("Reminder", [ALICE, BOB], scheduled_at=in_an_hour(), batch_size=1)
    xcom = report.to_xcom()
    bodies = [r.body for r in sandbox.received("sms")]
    assert len(bodies) == 2
    assert {b["deleteId"] for b in bodies} == {xcom["delete_id"]}
    assert {b["scheduledDatetime"] for b in bodies} == {xcom["scheduled_at"]}
    before = sandbox.state.balance

    acknowledgement = hook.delete_scheduled_sms(xcom["delete_id"])
    assert acknowledgement.message == "Deleted successfully"
    [delete] = sandbox.received("delete")
    assert delete.method == "DELETE"
    assert delete.query == {"deleteId": str(xcom["delete_id"])}
    assert sandbox.state.texted_numbers() == []
    assert sandbox.state.balance - before == Decimal("0.052")

    with pytest.raises(exc.TaqnyatApiError, match="no scheduled message"):
        hook.delete_scheduled_sms(xcom["delete_id"])


def test_delete_checks_its_id_first(hook, sandbox):
    with pytest.raises(exc.InvalidInputError, match="delete_id"):
        hook.delete_scheduled_sms("12; DROP")
    assert sandbox.received() == []


def test_senders(hook, sandbox):
    assert hook.get_senders() == [Sender("Taqnyat.sa", "active")]
    sandbox.state.set_senders([])
    assert hook.get_senders() == []
    assert [r.auth for r in sandbox.received("senders")] == ["ok", "ok"]


def test_wrong_token_is_104_and_nothing_is_sent(sandbox, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps(
            {
                "conn_type": "taqnyat",
                "host": sandbox.base_url,
                "password": "wrong",
                "extra": {"sender": "Taqnyat.sa"},
            }
        ),
    )
    hook = TaqnyatHook()
    with pytest.raises(exc.TaqnyatInvalidTokenError, match="invalid credentials information"):
        hook.send_sms("hi", [ALICE])
    with pytest.raises(exc.TaqnyatInvalidTokenError):
        hook.get_senders()
    assert sandbox.state.messages == []
    assert len(sandbox.received("sms")) == 1


@pytest.mark.parametrize("code", [2, 3, 14, 15, 17, 101, 102, 104])
def test_each_error_code_fails_after_one_request(hook, sandbox, code):
    sandbox.state.inject(f"error:{code}", endpoint="sms")
    with pytest.raises(exc.TaqnyatApiError) as raised:
        hook.send_sms("hi", [ALICE])
    assert raised.value.code == code
    assert len(sandbox.received("sms")) == 1


def test_unregistered_sender_is_the_servers_400(hook, sandbox):
    with pytest.raises(exc.TaqnyatApiError, match="'Other' is not an active sender"):
        hook.send_sms("hi", [ALICE], sender="Other")


def test_partial_rejection(hook, sandbox):
    sandbox.state.set_unreachable([BOB])
    xcom = hook.send_sms("hi", [ALICE, BOB, CAROL]).to_xcom()
    assert xcom["accepted"] == [ALICE, CAROL]
    assert xcom["rejected"] == [BOB]
    assert xcom["cost"] == "0.052"


def test_batches_over_one_connection(hook, sandbox):
    numbers = [f"9665{n:08d}" for n in range(250)]
    report = hook.send_sms("hi", numbers, batch_size=100)
    requests = sandbox.received("sms")
    assert [len(r.body["recipients"]) for r in requests] == [100, 100, 50]
    assert [n for r in requests for n in r.body["recipients"]] == numbers
    assert len({r.client_port for r in requests}) == 1
    assert len(report.to_xcom()["message_ids"]) == 3


@pytest.mark.parametrize("fault", ["500", "502", "504", "drop", "garbage", "empty"])
def test_unknown_outcome_is_never_resent(hook, sandbox, fault):
    sandbox.state.inject(fault, endpoint="sms")
    with pytest.raises(exc.TaqnyatDeliveryUnknownError):
        hook.send_sms("hi", [ALICE])
    assert len(sandbox.received("sms")) == 1


@pytest.mark.parametrize("fault", ["429", "503"])
def test_not_processed_is_retried_once_more(hook, sandbox, fault):
    sandbox.state.inject(fault, endpoint="sms")
    hook.send_sms("hi", [ALICE])
    assert [r.status for r in sandbox.received("sms")] == [int(fault), 201]
    assert sandbox.state.texted_numbers() == [ALICE]


def test_fault_in_the_middle_never_resends_delivered_batches(hook, sandbox):
    sandbox.state.inject("500", endpoint="sms", skip=1)
    with pytest.raises(exc.IncompleteDeliveryError) as raised:
        hook.send_sms("hi", [ALICE, BOB, CAROL], batch_size=1)
    error = raised.value
    assert (error.reached, error.maybe_reached, error.not_reached) == ([ALICE], [BOB], [CAROL])
    assert error.partial_result["segments"] == 1
    assert len(sandbox.received("sms")) == 2


def test_async_send_sms_matches_the_sync_one(sandbox, fast_retries):
    run_async_hook(lambda hook: hook.send_sms("hi", [ALICE, BOB], batch_size=1))
    TaqnyatHook().send_sms("hi", [ALICE, BOB], batch_size=1)
    bodies = [r.body for r in sandbox.received("sms")]
    # What the sandbox received, spelled out: equal halves alone would pass with nothing sent.
    expected = [{"recipients": [number], "body": "hi", "sender": "Taqnyat.sa"} for number in (ALICE, BOB)]
    assert bodies == expected * 2
    assert sandbox.state.texted_numbers() == [ALICE, BOB, ALICE, BOB]


@pytest.mark.parametrize("batch_size", [0, 1001, "10"])
def test_bad_batch_size_is_refused_before_any_request(hook, sandbox, batch_size):
    with pytest.raises(exc.InvalidInputError, match="batch_size must be a whole number from 1 to 1000"):
        hook.send_sms("hi", [ALICE], batch_size=batch_size)
    with pytest.raises(exc.InvalidInputError, match="batch_size"):
        hook.place_voice_calls("https://cdn.example.com/a.mp3", [ALICE], batch_size=batch_size)
    with pytest.raises(exc.InvalidInputError, match="batch_size"):
        run_async_hook(lambda hook: hook.send_sms("hi", [ALICE], batch_size=batch_size))
    assert sandbox.received() == []
