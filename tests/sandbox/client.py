"""Plain HTTP to the sandbox, as any client would talk to it."""

from __future__ import annotations

import json
import socket

import requests

from taqnyat_provider.sandbox import SandboxServer

TOKEN = "sbx-rate-limit-4d1c9e"
VOICE = {
    "recipients": ["966500000000"],
    "callerId": "966500000001",
    "audioUrl": "https://cdn.example.com/alert.mp3",
}
SMS = {"recipients": ["966500000000"], "body": "hello", "sender": "Taqnyat.sa"}


def call(sandbox: SandboxServer, token: str | None = TOKEN, payload: dict | None = None) -> requests.Response:
    """One voice send straight over HTTP, as any client would."""
    return requests.post(
        f"{sandbox.base_url}/voiceSend.php",
        json=payload or VOICE,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=10,
    )


def admin(
    sandbox: SandboxServer, method: str, path: str, payload: object = None, token: str | None = TOKEN
) -> requests.Response:
    """A request to an admin endpoint (``/_sandbox/<path>``) as the docs show it: the token, JSON."""
    return requests.request(
        method,
        f"{sandbox.base_url}/_sandbox/{path}",
        json=payload,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=10,
    )


def raw_headers(sandbox: SandboxServer) -> dict[bytes, bytes]:
    """A voice send over a bare socket: the answer's headers byte for byte (requests would decode them)."""
    body = json.dumps(VOICE).encode()
    request = (
        b"POST /voiceSend.php HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return {name.lower(): value[1:] for name, _, value in (line.partition(b":") for line in head)}
