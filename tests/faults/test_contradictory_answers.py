"""
A 2xx whose body also reports a failure is "delivery unknown" after a send, never "refused".

A refusal's remedy is to fix the cause (top up the balance) and clear the task, and a clear sends
again: the people reached by a send that did go out would be called twice. Both hooks, on loopback.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from tests.hooks.running import run_async_hook

ANSWERS = {
    "garbled-201-with-error-3": b'{"statusCode": 201, "messageId": "9", garbled "ErrorCode": 3, ',
    "valid-201-with-error-0": b'{"statusCode":201,"messageId":"9","Error":{"ErrorCode":0}}',
}


class Answering(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, body: bytes):
        self.body = body
        self.requests: list[str] = []

        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(self.path)
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(params=ANSWERS, ids=list(ANSWERS))
def answering(request, monkeypatch):
    server = Answering(ANSWERS[request.param])
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps(
            {
                "conn_type": "taqnyat",
                "host": f"http://127.0.0.1:{server.server_address[1]}",
                "password": "contradiction-token",
                "extra": {"timeout": 2, "caller_id": "966500000001"},
            }
        ),
    )
    yield server
    server.shutdown()
    server.server_close()


def send_sync():
    hook = TaqnyatHook()
    try:
        hook.place_voice_calls("https://cdn.example.com/a.mp3", ["966500000000"])
    finally:
        hook.close()


def send_async():
    run_async_hook(lambda hook: hook.place_voice_calls("https://cdn.example.com/a.mp3", ["966500000000"]))


@pytest.mark.parametrize("send", [send_sync, send_async], ids=["sync", "async"])
def test_a_contradictory_2xx_is_delivery_unknown_and_sent_once(answering, fast_retries, send):
    with pytest.raises(exc.TaqnyatDeliveryUnknownError, match="Contradictory answer") as raised:
        send()
    assert not isinstance(raised.value, exc.TaqnyatApiError)
    assert not raised.value.retryable
    assert "top up" not in str(raised.value).lower()
    assert answering.requests == ["/voiceSend.php/"]
