"""
A proxy's credentials never appear in an error or a log line, in any spelling.

yarl decodes a percent-encoded password (``p%21ss%2Aw0rd`` is ``p!ss*w0rd``), and aiohttp prints
the proxy's URL when the proxy refuses the tunnel: masking only the form written in the connection
let the decoded one through to the triggerer's log. The hooks now write their own text about a
proxy (its scheme, host and port), and mask every form of the password. A proxy on loopback that
answers 407 to everything; the API is never reached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from taqnyat_provider.triggers.status import TaqnyatStatusTrigger
from tests.hooks.running import run_async_hook
from tests.servers import RefusingProxy

RAW = "p%21ss%2Aw0rd"
DECODED = "p!ss*w0rd"
USER = "proxy%40user"  # proxy@user
FORMS = (RAW, DECODED, "p%21ss", "p!ss", "proxy@user:", f"{USER}:{RAW}")


@pytest.fixture
def refusing(monkeypatch):
    proxy = RefusingProxy()
    with socket.socket() as probe:  # the API's port: nothing listens, and nothing must try
        probe.bind(("127.0.0.1", 0))
        api_port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps(
            {
                "conn_type": "taqnyat",
                "host": f"https://127.0.0.1:{api_port}",
                "password": "proxy-test-token",
                "extra": {
                    "timeout": 2,
                    "caller_id": "966500000001",
                    "proxies": {"https": f"http://{USER}:{RAW}@127.0.0.1:{proxy.port}"},
                },
            }
        ),
    )
    yield proxy
    proxy.server.close()


def assert_clean(*texts: str) -> None:
    for text in texts:
        for form in FORMS:
            assert form not in text, f"{form!r} in {text[:300]!r}"


def sync_status():
    hook = TaqnyatHook()
    try:
        hook.get_system_status()
    finally:
        hook.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda: run_async_hook(lambda hook: hook.get_system_status()),
        lambda: run_async_hook(
            lambda hook: hook.place_voice_calls("https://cdn.example.com/a.mp3", ["966500000000"])
        ),
        sync_status,
    ],
    ids=["async-status", "async-send", "sync-status"],
)
def test_a_refusing_proxy_never_shows_its_password(refusing, fast_retries, caplog, capfd, call):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(exc.TaqnyatTransientError) as raised:
        call()
    message = str(raised.value)
    assert "407" in message, "the cause is still named"
    assert f"127.0.0.1:{refusing.port}" in message, "and which proxy"
    captured = capfd.readouterr()
    assert_clean(message, repr(raised.value), caplog.text, captured.out, captured.err)
    assert refusing.heads and all(head.startswith(b"CONNECT ") for head in refusing.heads)


def test_the_status_trigger_logs_no_proxy_password(refusing, caplog, capfd):
    # What the triggerer runs: each poll logs the failure and polls again until the deadline.
    caplog.set_level(logging.DEBUG)
    trigger = TaqnyatStatusTrigger(poll_interval=0.2, deadline=time.time() + 1.5)

    async def events():
        return [event async for event in trigger.run()]

    [event] = asyncio.run(events())
    assert event.payload["status"] == "timeout"
    captured = capfd.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "Taqnyat status unavailable" in logged
    assert "the proxy answered HTTP 407" in logged
    assert_clean(logged, json.dumps(event.payload))
    assert len(refusing.heads) >= 2
