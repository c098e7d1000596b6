"""
Every public name of both hooks, checked against the hook's rules.

Each public method is one of: an API call (under the retry rules: a 503 is retried), a send (through
the delivery engine: an answer lost after the request was written is never sent again), plumbing
that makes no request to Taqnyat, or a door HttpHook lends that the hook closes (``hasattr`` is
False, and a call names what to use). A name that appears in neither list — a new method, or one
a new Airflow or http provider adds to a base class — fails the first test until it is placed.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.voice import VoiceCall
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook

AUDIO = "https://cdn.example.com/alert.mp3"
ALICE = "966500000000"

# name -> (sandbox endpoint it reaches, how to call it with a hook)
CALLS = {
    "request": ("balance", lambda hook: hook.request("GET", "account/balance")),
    "get_system_status": ("status", lambda hook: hook.get_system_status()),
    "get_balance": ("balance", lambda hook: hook.get_balance()),
    "get_senders": ("senders", lambda hook: hook.get_senders()),
    "delete_scheduled_sms": ("delete", lambda hook: hook.delete_scheduled_sms(4711)),
}
SYNC_CALLS = {
    "run": ("status", lambda hook: hook.run("system/status/")),
    "test_connection": ("balance", lambda hook: hook.test_connection()),
}
SENDS = {
    "place_voice_calls": ("voice", lambda hook: hook.place_voice_calls(AUDIO, [ALICE])),
    "send_voice": ("voice", lambda hook: hook.send_voice(AUDIO, None, [ALICE])),
    "send_sms": ("sms", lambda hook: hook.send_sms("hello", [ALICE])),
    "deliver": (
        "voice",
        lambda hook: hook.deliver(VoiceCall(AUDIO, [ALICE], "966500000001").prepare(SETTINGS)),
    ),
}
POLLS = {"poll_system_status"}  # one attempt: the sensor and the trigger poll again at their cadence
CLOSED = ("get_conn", "run_and_check", "run_with_advanced_retry", "check_response")
ASYNC_CLOSED = ("get_conn",)

# Makes no request to Taqnyat: the connection, the session, Airflow's hook registry and logging.
PLUMBING = {
    "close",
    "check_connection_settings",
    "policy",
    "conn_name_attr",
    "conn_type",
    "default_conn_name",
    "hook_name",
    "get_connection",
    "get_connections",  # Airflow 2.11's BaseHook
    "aget_connection",  # Airflow 3's BaseHook
    "get_hook",
    "aget_hook",
    "get_ui_field_behaviour",
    "get_connection_form_widgets",
    "log",
    "logger",
}
SYNC_PLUMBING = {
    "settings",
    "url_from_endpoint",  # a string from the connection's base URL
    # HttpHook's data, read by none of the methods the hook keeps.
    "auth_type",
    "default_headers",
    "default_host",
}
ASYNC_PLUMBING = {"get_settings"}


class _Settings:
    caller_id = "966500000001"
    sender = "Taqnyat.sa"


SETTINGS = _Settings()


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize(
    ("cls", "placed"),
    [
        (TaqnyatHook, {*CALLS, *SYNC_CALLS, *SENDS, *POLLS, *CLOSED, *PLUMBING, *SYNC_PLUMBING}),
        (TaqnyatAsyncHook, {*CALLS, *SENDS, *POLLS, *ASYNC_CLOSED, *PLUMBING, *ASYNC_PLUMBING}),
    ],
)
def test_every_public_name_of_each_hook_is_placed_under_a_rule(cls, placed):
    names = public_names(cls)
    # A name of a base class that this Airflow does not have is fine; one the hook has and the
    # lists do not is not.
    assert names - placed == set()
    assert {*CALLS, *SENDS} <= names


# What an instance holds besides its class's names: the ids, HttpHook's method (run's verb) and the
# retry policy. HttpHook's adapters, base URL and extras are gone: an adapter sends a prepared
# request as it is.
INSTANCE = {"http_conn_id", "method", "taqnyat_conn_id", "retry_policy"}


@pytest.mark.parametrize(("cls", "closed"), [(TaqnyatHook, CLOSED), (TaqnyatAsyncHook, ASYNC_CLOSED)])
def test_the_doors_a_base_class_lends_are_closed_and_say_what_to_use(cls, closed):
    hook = cls()
    for name in closed:
        assert not hasattr(cls, name)
        assert not hasattr(hook, name)
        with pytest.raises(AttributeError, match=rf"does not offer {name}\(\).*"):
            getattr(hook, name)


@pytest.mark.parametrize("cls", [TaqnyatHook, TaqnyatAsyncHook])
def test_an_instance_holds_no_public_attribute_but_its_ids_and_policy(cls):
    public = {name for name in vars(cls()) if not name.startswith("_")}
    assert public <= INSTANCE
    assert not {"adapter", "keep_alive_adapter", "base_url", "merged_extra"} & public


def test_the_call_surface_is_typed():
    for cls in (TaqnyatHook, TaqnyatAsyncHook):
        for name in (*CALLS, *SENDS, *POLLS):
            annotation = inspect.signature(getattr(cls, name)).return_annotation
            assert annotation not in ("Any", inspect.Signature.empty), f"{cls.__name__}.{name}"


def run_with(hook_cls, call):
    if hook_cls is TaqnyatHook:
        hook = TaqnyatHook()
        try:
            return call(hook)
        finally:
            hook.close()

    async def scenario():
        async with TaqnyatAsyncHook() as hook:
            return await call(hook)

    return asyncio.run(scenario())


def calls_for(hook_cls):
    return {**CALLS, **(SYNC_CALLS if hook_cls is TaqnyatHook else {})}


@pytest.mark.parametrize("hook_cls", [TaqnyatHook, TaqnyatAsyncHook])
def test_every_call_is_retried_by_the_retry_rules_and_logs_no_token(hook_cls, sandbox, fast_retries, caplog):
    caplog.set_level("DEBUG")
    for name, (endpoint, call) in calls_for(hook_cls).items():
        before = len(sandbox.received(endpoint))
        sandbox.state.inject("429", endpoint=endpoint)  # refused unprocessed: even a DELETE may go again
        if name == "delete_scheduled_sms":  # something to delete
            sandbox.state.cancel_scheduled("4711")
            run_with(
                TaqnyatHook,
                lambda hook: hook.send_sms(
                    "x", [ALICE], scheduled_at="2099-01-01T10:00+03:00", delete_id=4711
                ),
            )
        result = run_with(hook_cls, call)
        received = sandbox.received(endpoint)[before:]
        assert [r.status < 300 for r in received] == [False, True], (name, [r.status for r in received])
        assert result is not None, name
    assert sandbox.token not in caplog.text


@pytest.mark.parametrize("hook_cls", [TaqnyatHook, TaqnyatAsyncHook])
@pytest.mark.parametrize("name", SENDS)
def test_every_send_goes_through_the_delivery_engine_and_never_resends_an_unknown(
    hook_cls, name, sandbox, fast_retries, caplog
):
    endpoint, call = SENDS[name]
    sandbox.state.inject("drop", endpoint=endpoint)
    with pytest.raises(exc.TaqnyatDeliveryUnknownError) as raised:
        run_with(hook_cls, call)
    assert len(sandbox.received(endpoint)) == 1  # a request that may have been processed: never again
    assert ALICE in raised.value.maybe_reached
    assert sandbox.token not in str(raised.value)


@pytest.mark.parametrize("hook_cls", [TaqnyatHook, TaqnyatAsyncHook])
@pytest.mark.parametrize(
    ("method", "endpoint"),
    [
        ("POST", "voiceSend.php/"),
        ("POST", "/voiceSend.php"),
        ("post", "V1/Messages"),
        ("PUT", "v1/messages/?x=1"),
    ],
)
def test_request_refuses_a_send_before_anything_is_sent(hook_cls, method, endpoint, sandbox):
    with pytest.raises(exc.InvalidInputError, match="send ledger"):
        run_with(hook_cls, lambda hook: hook.request(method, endpoint, json={"recipients": [ALICE]}))
    assert sandbox.received() == []


def test_run_is_request_with_httphooks_arguments(sandbox, fast_retries):
    hook = TaqnyatHook()
    try:
        assert hook.run("account/balance").status == 200
        with pytest.raises(exc.InvalidInputError, match="headers, timeout"):
            hook.run("account/balance", headers={"Authorization": "Bearer other"}, timeout=3)
        hook.method = "POST"
        with pytest.raises(exc.InvalidInputError, match="send ledger"):
            hook.run("voiceSend.php/", data={"recipients": [ALICE]})
        assert hook.url_from_endpoint("account/balance") == f"{sandbox.base_url}/account/balance"
    finally:
        hook.close()
    assert [(r.method, r.endpoint) for r in sandbox.received()] == [("GET", "balance")]


@pytest.mark.parametrize("hook_cls", [TaqnyatHook, TaqnyatAsyncHook])
def test_a_status_poll_is_one_attempt_that_reads_trouble_as_not_done(hook_cls, sandbox):
    sandbox.state.inject("503", endpoint="status")
    trouble = run_with(hook_cls, lambda hook: hook.poll_system_status())
    assert (trouble.done, trouble.status, trouble.trouble) == (False, None, True)
    assert trouble.message.startswith("Taqnyat status unavailable, asking again: ")
    sandbox.state.degrade("voice")
    degraded = run_with(hook_cls, lambda hook: hook.poll_system_status())
    assert (degraded.done, degraded.status.service, degraded.trouble) == (False, "voice", False)
    sandbox.state.set_status()
    assert run_with(hook_cls, lambda hook: hook.poll_system_status()).done
    assert [r.status for r in sandbox.received("status")] == [503, 200, 200]


@pytest.mark.parametrize("hook_cls", [TaqnyatHook, TaqnyatAsyncHook])
def test_a_status_poll_raises_a_configuration_error(hook_cls, sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TAQNYAT_DEFAULT", sandbox.connection_json(verify="/no/such/ca.pem"))
    with pytest.raises(exc.TaqnyatConfigurationError, match=r"/no/such/ca\.pem"):
        run_with(hook_cls, lambda hook: hook.poll_system_status())
    assert sandbox.received() == []
