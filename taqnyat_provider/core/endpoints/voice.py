"""
``POST /voiceSend.php/``: call every recipient and play an audio file.

:class:`VoiceCall` is what a task or a notifier asks for; ``prepare`` checks all of it before any
request and gives the :class:`~taqnyat_provider.core.sending.PreparedSend` the delivery engine sends.
The answer lists only ``rejectedNumber``: every other recipient was accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from taqnyat_provider.core.errors import InvalidInputError
from taqnyat_provider.core.recipients import normalize_caller_id, normalize_recipients
from taqnyat_provider.core.sending import ConnectionDefaults, PreparedSend, parse_send_response

VOICE_ENDPOINT = "voiceSend.php/"
MAX_URL_LENGTH = 2048
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def check_audio_url(value: Any) -> str:
    """An absolute http(s) URL of an audio file, free of whitespace and control characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"audio_url must be an absolute http(s) URL, got {value!r:.100}")
    url = value.strip()
    if _CONTROL_CHARS.search(url) or " " in url:
        raise InvalidInputError(f"audio_url contains whitespace or control characters: {url!r:.200}")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInputError(f"audio_url is {len(url)} characters long, more than {MAX_URL_LENGTH}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise InvalidInputError(f"audio_url must be an absolute http(s) URL, got {url!r:.200}")
    return url


@dataclass(frozen=True)
class VoiceCall:
    """Call every recipient and play ``audio_url`` (``POST /voiceSend.php/``)."""

    audio_url: Any
    recipients: Any
    caller_id: Any = None
    default_region: str | None = None

    def prepare(self, defaults: ConnectionDefaults) -> PreparedSend:
        fields = {
            "callerId": normalize_caller_id(self.caller_id or defaults.caller_id),
            "audioUrl": check_audio_url(self.audio_url),
        }
        recipients = normalize_recipients(self.recipients, self.default_region)
        return PreparedSend(VOICE_ENDPOINT, fields, recipients, "a voice call", parse=parse_send_response)
