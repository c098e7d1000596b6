"""
The hooks take nothing from the worker's environment unless the connection says so.

A proxy from ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` would see a plain-http request's Bearer
token, and a ``.netrc`` ``default`` entry would replace the Bearer header with the corporate
password; both are checked where the requests arrive.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook

ALICE = "966500000000"
AUDIO = "https://cdn.example.com/alert.mp3"


class ConnectionRecorder:
    """A loopback listener standing for a proxy: it records that somebody connected, then hangs up."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.server.close()


@pytest.fixture
def proxy(monkeypatch):
    recorder = ConnectionRecorder()
    url = f"http://127.0.0.1:{recorder.port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield recorder
    recorder.close()


@pytest.fixture
def netrc(tmp_path, monkeypatch):
    path = tmp_path / "netrc"
    path.write_text("default login corporate password corporate-secret-password\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".netrc").write_text(path.read_text())
    (tmp_path / ".netrc").chmod(0o600)
    return path


def connect(sandbox, monkeypatch, **extra):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        sandbox.connection_json(timeout=2, caller_id="966500000001", **extra),
    )


@pytest.mark.parametrize("extra", [{}, {"trust_env": True}])
def test_no_environment_proxy_sees_a_plain_http_request(sandbox, proxy, monkeypatch, extra):
    # Plain http is for loopback only, so even trust_env does not send it through a proxy.
    connect(sandbox, monkeypatch, **extra)
    hook = TaqnyatHook()
    hook.get_balance()
    hook.place_voice_calls(AUDIO, [ALICE])
    hook.close()

    async def async_calls():
        async with TaqnyatAsyncHook() as async_hook:
            await async_hook.get_balance()
            await async_hook.place_voice_calls(AUDIO, [ALICE])

    asyncio.run(async_calls())
    assert proxy.received == []
    assert [r.endpoint for r in sandbox.received()] == ["balance", "voice", "balance", "voice"]


def test_a_netrc_never_replaces_the_bearer_token(sandbox, netrc, monkeypatch):
    connect(sandbox, monkeypatch, trust_env=True)
    hook = TaqnyatHook()
    hook.get_system_status()
    hook.get_balance()
    hook.close()

    async def async_calls():
        async with TaqnyatAsyncHook() as async_hook:
            await async_hook.get_system_status()
            await async_hook.get_balance()

    asyncio.run(async_calls())
    status_sync, balance_sync, status_async, balance_async = sandbox.received()
    for status in (status_sync, status_async):
        assert status.auth == "missing" and "Authorization" not in status.headers
    for balance in (balance_sync, balance_async):
        assert balance.auth == "ok" and balance.headers["Authorization"] == "Bearer <redacted>"
    assert "corporate-secret-password" not in json.dumps(sandbox.state.snapshot())
