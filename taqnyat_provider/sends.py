"""
What a voice call or an SMS asks for, checked completely before any request.

Operators, notifiers and both hooks describe a send with :class:`VoiceCall` or :class:`SmsMessage`
and turn it into a :class:`~taqnyat_provider.delivery.PreparedSend` with the connection's settings
(its ``caller_id`` and ``sender`` extras fill what the task left out). Every bad value is named in
an ``InvalidInputError`` here, so none ever reaches the API. No I/O and no Airflow here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from taqnyat_provider.delivery import PreparedSend
from taqnyat_provider.recipients import check_audio_url, normalize_caller_id, normalize_recipients
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


class ConnectionDefaults(Protocol):
    """The connection extras a send falls back on (see ``ConnectionSettings``)."""

    @property
    def caller_id(self) -> str | None: ...

    @property
    def sender(self) -> str | None: ...


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
        if self.scheduled_at is not None:
            fields["scheduledDatetime"] = summary["scheduled_at"] = schedule_for_api(self.scheduled_at, now)
        if self.delete_id is not None:
            fields["deleteId"] = check_delete_id(self.delete_id)
        elif self.scheduled_at is not None:
            fields["deleteId"] = new_delete_id()
        if "deleteId" in fields:
            summary["delete_id"] = fields["deleteId"]
        recipients = normalize_recipients(self.recipients, self.default_region)
        return PreparedSend(SMS_ENDPOINT, fields, recipients, "an SMS", summary)
