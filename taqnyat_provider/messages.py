"""
What a voice call or an SMS asks for, checked completely before any request.

Operators, notifiers and both hooks describe a send with :class:`VoiceCall` or :class:`SmsMessage`
and turn it into a :class:`PreparedSend` with the connection's settings (its ``caller_id`` and
``sender`` extras fill what the task left out). Every bad value is named in an
``InvalidInputError`` here, so none ever reaches the API. No I/O and no Airflow here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from taqnyat_provider.exceptions import InvalidInputError
from taqnyat_provider.recipients import normalize_caller_id, normalize_recipients
from taqnyat_provider.sms import (
    check_body,
    check_delete_id,
    check_sender,
    measure_sms,
    new_delete_id,
    schedule_for_api,
)

VOICE_ENDPOINT = "voiceSend.php/"
SMS_ENDPOINT = "v1/messages"
MAX_URL_LENGTH = 2048
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class ConnectionDefaults(Protocol):
    """The connection extras a send falls back on (see ``ConnectionSettings``)."""

    @property
    def caller_id(self) -> str | None: ...

    @property
    def sender(self) -> str | None: ...


@dataclass(frozen=True)
class PreparedSend:
    """
    A send whose every argument was checked: the endpoint, the body but its recipients, and those.

    ``summary`` is what the send's XCom says about it besides the outcome (an SMS's segments, say).
    ``generated`` names the fields made up here rather than given (a scheduled SMS's ``deleteId``):
    a later try of the same send takes them from the send ledger instead of making new ones.
    """

    endpoint: str
    fields: dict[str, Any]
    recipients: list[str]
    what: str = "a message"
    summary: dict[str, Any] = field(default_factory=dict)
    generated: frozenset[str] = frozenset()

    def payload(self, batch: list[str]) -> dict[str, Any]:
        return {"recipients": batch, **self.fields}

    def canonical(self, batch_size: int) -> str:
        """What identifies this send across tries: endpoint, given fields, recipients and batching."""
        given = {name: value for name, value in self.fields.items() if name not in self.generated}
        return json.dumps(
            [self.endpoint, given, self.recipients, batch_size], sort_keys=True, separators=(",", ":")
        )

    def with_generated(self, values: dict[str, Any]) -> PreparedSend:
        """The same send with the made-up fields an earlier try used (the ledger keeps them)."""
        kept = {name: value for name, value in values.items() if name in self.generated}
        if not kept:
            return self
        summary = dict(self.summary)
        if "deleteId" in kept:
            summary["delete_id"] = kept["deleteId"]
        return PreparedSend(
            self.endpoint,
            {**self.fields, **kept},
            self.recipients,
            self.what,
            summary,
            self.generated,
        )


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
        return PreparedSend(VOICE_ENDPOINT, fields, recipients, "a voice call")


@dataclass(frozen=True)
class SmsMessage:
    """
    Send ``body`` to every recipient from ``sender`` (``POST /v1/messages``), now or at ``scheduled_at``.

    A scheduled send always carries a ``deleteId`` (a fresh one unless ``delete_id`` is given), the
    same for every batch, so one ``delete_scheduled_sms`` cancels all of it.
    """

    body: Any
    recipients: Any
    sender: Any = None
    scheduled_at: Any = None
    delete_id: Any = None
    default_region: str | None = None

    def prepare(self, defaults: ConnectionDefaults, now: datetime | None = None) -> PreparedSend:
        body = check_body(self.body)
        fields: dict[str, Any] = {"body": body, "sender": check_sender(self.sender or defaults.sender)}
        length = measure_sms(body)
        summary: dict[str, Any] = {
            "message_length": length.characters,
            "segments": length.segments,
            "encoding": length.encoding,
        }
        generated: frozenset[str] = frozenset()
        if self.scheduled_at is not None:
            fields["scheduledDatetime"] = summary["scheduled_at"] = schedule_for_api(self.scheduled_at, now)
        if self.delete_id is not None:
            fields["deleteId"] = check_delete_id(self.delete_id)
        elif self.scheduled_at is not None:
            fields["deleteId"], generated = new_delete_id(), frozenset({"deleteId"})
        if "deleteId" in fields:
            summary["delete_id"] = fields["deleteId"]
        recipients = normalize_recipients(self.recipients, self.default_region)
        return PreparedSend(SMS_ENDPOINT, fields, recipients, "an SMS", summary, generated)
