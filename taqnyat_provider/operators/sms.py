"""Send Taqnyat SMS from a task, now or scheduled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taqnyat_provider.operators.base import SEND_TEMPLATE_FIELDS, TaqnyatSendOperator

if TYPE_CHECKING:
    from datetime import datetime

    from taqnyat_provider.core.endpoints.sms import SmsMessage


class TaqnyatSmsOperator(TaqnyatSendOperator):
    """
    Send ``body`` by SMS to each recipient once (``POST /v1/messages``), now or at ``scheduled_at``.

    Returns to XCom ``message_ids``, ``accepted``, ``rejected``, ``cost`` (a decimal string),
    ``currency``, per-batch details and, about the body, ``message_length`` (characters),
    ``segments`` (SMS parts billed per recipient) and ``encoding`` (``GSM-7`` or ``UCS-2`` for
    Arabic and emoji). A scheduled send adds ``scheduled_at`` (Saudi local time, as sent to the
    API) and ``delete_id``, which ``TaqnyatHook.delete_scheduled_sms`` takes to cancel it.

    :param body: The text; templated. Empty bodies, control characters other than new lines and
        bodies longer than 10 SMS parts are refused before any request.
    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param sender: A sender name registered with Taqnyat; defaults to the connection's ``sender``
        extra; templated.
    :param scheduled_at: Send later instead of now: a timezone-aware datetime or ISO 8601 text with
        an offset (e.g. ``"{{ data_interval_end.add(hours=1) }}"``), in the future; templated.
    :param delete_id: The ``deleteId`` to cancel a scheduled send with; made up when not given.
        A dry run of a scheduled send shows a made-up one that the real send will not use (it
        makes its own); give ``delete_id`` to rehearse with the one the send will use.

    See :class:`~taqnyat_provider.operators.base.TaqnyatSendOperator` for ``batch_size``,
    ``fail_on_rejected``, ``default_region``, ``min_balance``, ``on_unknown``, ``quiet_hours``,
    ``quiet_hours_timezone``, ``urgent``, ``max_lateness``, ``dry_run``, ``max_recipients`` and
    ``taqnyat_conn_id``.
    """

    template_fields: Sequence[str] = (
        "body",
        "recipients",
        "sender",
        "scheduled_at",
        "delete_id",
        *SEND_TEMPLATE_FIELDS,
    )
    ui_color = "#fbeed9"

    def __init__(
        self,
        *,
        body: str,
        recipients: Any,
        sender: str | None = None,
        scheduled_at: datetime | str | None = None,
        delete_id: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(recipients=recipients, **kwargs)
        self.body = body
        self.sender = sender
        self.scheduled_at = scheduled_at
        self.delete_id = delete_id

    def waits_for_quiet_hours(self) -> bool:
        # A scheduled SMS reaches phones at ``scheduled_at``, not now: choose that time outside the
        # window. Deferring the request could only push it past ``scheduled_at``.
        if self.scheduled_at:
            self.log.info(
                "A scheduled SMS: quiet_hours do not delay its request (it arrives at scheduled_at)"
            )
            return False
        return True

    def message(self) -> SmsMessage:
        from taqnyat_provider.core.endpoints.sms import SmsMessage

        return SmsMessage(
            self.body, self.recipients, self.sender, self.scheduled_at, self.delete_id, self.default_region
        )
