"""
The sandbox's admin endpoints answer a client on this machine that holds the token, and nobody else.

They read recorded phone numbers and inject faults. A web page open in the developer's browser
could otherwise reach them: by DNS rebinding (its own name resolving to 127.0.0.1, so it sends its
own name as ``Host``) or by a cross-site form post (``text/plain``, no ``Authorization``).
"""

from __future__ import annotations

import json
import socket

import pytest
import requests

from tests.sandbox.client import TOKEN, admin, call

ALICE = "966500000000"


def raw(server, request: bytes) -> tuple[int, bytes]:
    """One request over a bare socket, so the Host header is exactly what a browser would send."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def admin_request(
    method: str, path: str, host: str, body: bytes = b"", content_type: str | None = None
) -> bytes:
    lines = [f"{method} /_sandbox/{path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines.append(f"Authorization: Bearer {TOKEN}")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize("host", ["evil.example:8080", "evil.example", "127.0.0.1.evil.example", ""])
def test_a_rebinding_host_cannot_read_the_recorded_numbers(api, host):
    call(api)  # a voice call to ALICE is on record
    status, body = raw(api, admin_request("GET", "requests", host))
    assert status in (400, 403)
    assert ALICE.encode() not in body


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8475", "[::1]:8475"])
def test_a_loopback_host_with_the_token_reads_them(api, host):
    call(api)
    status, body = raw(api, admin_request("GET", "requests", host))
    assert status == 200
    assert ALICE in json.dumps(json.loads(body))


def test_a_text_plain_post_cannot_inject_a_fault(api):
    # What a cross-site <form enctype="text/plain"> sends: a body that reads as JSON.
    body = b'{"kind": "error:3", "endpoint": "voice", "x": "="}'
    status, _ = raw(api, admin_request("POST", "faults", "127.0.0.1", body, "text/plain"))
    assert status == 415
    assert api.state.faults == []
    assert call(api).status_code == 201


def test_a_form_post_cannot_reset_the_sandbox(api):
    call(api)
    status, _ = raw(
        api, admin_request("POST", "reset", "127.0.0.1", b"a=b", "application/x-www-form-urlencoded")
    )
    assert status == 415
    assert len(api.state.received("voice")) == 1


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_without_the_token_nothing_is_read_or_changed(api, token):
    call(api)
    read = admin(api, "GET", "requests", token=token)
    assert read.status_code == 401
    assert ALICE not in read.text
    assert admin(api, "POST", "faults", {"kind": "error:3"}, token=token).status_code == 401
    assert admin(api, "POST", "reset", {}, token=token).status_code == 401
    assert api.state.faults == []
    assert len(api.state.received("voice")) == 1


def test_with_the_token_and_json_the_admin_endpoints_work(api):
    assert admin(api, "POST", "faults", {"kind": "error:3", "endpoint": "voice"}).status_code == 200
    assert call(api).status_code == 400
    assert admin(api, "POST", "reset", {}).status_code == 200
    assert admin(api, "GET", "requests").json()["requests"] == []


def test_the_audio_files_stay_open_to_anyone(api):
    # Taqnyat's servers and the voice operator's audio check fetch them without the token.
    answer = requests.get(f"{api.base_url}/_sandbox/audio/alert.mp3", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("audio/")
