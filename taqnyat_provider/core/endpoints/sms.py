"""
``POST /v1/messages``: send an SMS to every recipient, now or at a scheduled time.

:class:`SmsMessage` checks the text, the sender and the schedule (:mod:`~taqnyat_provider.core.sms_text`)
and prepares the send; the answer lists ``accepted`` and ``rejected`` numbers, often as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taqnyat_provider.core.recipients import normalize_recipients
from taqnyat_provider.core.sending import ConnectionDefaults, PreparedSend, parse_send_response
from taqnyat_provider.core.sms_text import (
    API_TIMEZONE,
    check_body,
    check_delete_id,
    check_sender,
    measure_sms,
    new_delete_id,
    schedule_for_api,
)

SMS_ENDPOINT = "v1/messages"


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
        scheduled = (
            f"{fields['scheduledDatetime']} ({API_TIMEZONE.tzname(None)})"
            if self.scheduled_at is not None
            else None
        )
        return PreparedSend(
            SMS_ENDPOINT,
            fields,
            recipients,
            "an SMS",
            summary,
            generated,
            scheduled,
            parse=parse_send_response,
        )
