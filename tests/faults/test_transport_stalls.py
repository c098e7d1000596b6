"""
Servers that stall a request: a TLS handshake that never completes, an answer dripped a byte at a time.

What matters for a send is whether the request could have reached the server: a handshake that
never finished sent no request, so the send is safe to make again (retryable, never "delivery
unknown", which would leave an on-call call unplaced). Both hooks are checked, on loopback.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.retry import RetryPolicy
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook
from tests.hooks.running import call_async, call_sync

TOKEN = "stall-test-token"


class Listener:
    """A loopback TCP listener that records what each connection sent and answers with ``answer``."""

    def __init__(self, answer=None):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.answer = answer
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self):
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _handle(self, conn):
        index = len(self.received)
        self.received.append(b"")
        conn.settimeout(0.1)
        with conn:
            if self.answer is not None:
                self.answer(conn, self, index)
                return
            while not self._stop.is_set():  # read whatever comes, never say a word
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                self.received[index] += data

    def close(self):
        self._stop.set()
        self._accept.join(timeout=2)
        for thread in self._threads:
            thread.join(timeout=2)
        self.server.close()


def connect(monkeypatch, port, scheme="https", timeout=1):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps(
            {
                "conn_type": "taqnyat",
                "host": f"{scheme}://127.0.0.1:{port}",
                "password": TOKEN,
                "extra": {"timeout": timeout, "caller_id": "966500000001"},
            }
        ),
    )


@pytest.fixture
def silent_tls():
    listener = Listener()
    yield listener
    listener.close()


@pytest.mark.parametrize("send", [call_sync, call_async], ids=["sync", "async"])
def test_a_tls_handshake_that_never_completes_is_not_sent_and_retryable(
    silent_tls, monkeypatch, fast_retries, send
):
    connect(monkeypatch, silent_tls.port)
    started = time.monotonic()
    with pytest.raises(exc.TaqnyatError) as raised:
        send()
    elapsed = time.monotonic() - started
    assert not isinstance(raised.value, exc.TaqnyatDeliveryUnknownError), raised.value
    assert isinstance(raised.value, exc.TaqnyatTransientError)
    assert raised.value.retryable
    assert "could not connect" in str(raised.value)
    # Every attempt was safe, so all three were made; each got as far as a ClientHello.
    assert len(silent_tls.received) == 3
    for data in silent_tls.received:
        assert data[:1] == b"\x16", "a TLS handshake record"
        assert b"voiceSend" not in data and TOKEN.encode() not in data
    assert elapsed < 3 * 1 + 3, "each handshake gives up after the connect timeout"


@pytest.mark.parametrize("send", [call_sync, call_async], ids=["sync", "async"])
def test_a_request_written_and_left_unanswered_stays_delivery_unknown(
    silent_tls, monkeypatch, fast_retries, send
):
    # The same silent listener over plain HTTP reads the whole request: it may have been processed.
    connect(monkeypatch, silent_tls.port, scheme="http")
    with pytest.raises(exc.TaqnyatDeliveryUnknownError, match="no answer before the timeout"):
        send()
    assert len(silent_tls.received) == 1, "never re-sent"
    assert silent_tls.received[0].startswith(b"POST /voiceSend.php/")


def drip(where):
    """An answer that reads the request, then sends a byte every 0.5 s: of the status line, or of the body."""

    def answer(conn, listener, index):
        data = b""
        while b"\r\n\r\n" not in data and not listener._stop.is_set():
            try:
                data += conn.recv(65536)
            except TimeoutError:
                continue
        listener.received[index] = data
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        if where == "body":
            conn.sendall(head)
        payload = (head if where == "headers" else b"") + b" " * 1000
        for byte in payload:
            if listener._stop.wait(0.5):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    return answer


def read_sync():
    hook = TaqnyatHook(retry_policy=RetryPolicy(max_attempts=1))
    try:
        hook.get_balance()
    finally:
        hook.close()


def read_async():
    async def scenario():
        async with TaqnyatAsyncHook(retry_policy=RetryPolicy(max_attempts=1)) as hook:
            await hook.get_balance()

    asyncio.run(scenario())


@pytest.mark.parametrize("where", ["headers", "body"])
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (call_sync, exc.TaqnyatDeliveryUnknownError),
        (call_async, exc.TaqnyatDeliveryUnknownError),
        (read_sync, exc.TaqnyatTransientError),
        (read_async, exc.TaqnyatTransientError),
    ],
    ids=["send-sync", "send-async", "read-sync", "read-async"],
)
def test_a_dripping_server_cannot_hold_a_request_past_its_deadline(monkeypatch, call, expected, where):
    # timeout 1 s: each byte comes within it, so only the total deadline (2 x timeout) can end it.
    listener = Listener(answer=drip(where))
    try:
        connect(monkeypatch, listener.port, scheme="http", timeout=1)
        started = time.monotonic()
        with pytest.raises(exc.TaqnyatError) as raised:
            call()
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert isinstance(raised.value, expected), raised.value
    assert raised.value.retryable is (expected is exc.TaqnyatTransientError)
    assert "no answer before the timeout" in str(raised.value)
    assert elapsed < 4, f"held for {elapsed:.1f} s"
    assert len(listener.received) == 1, "one attempt: a send is never re-sent, the read policy allows one"
