"""Plain HTTP to the sandbox, as any client would talk to it."""

from __future__ import annotations

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
