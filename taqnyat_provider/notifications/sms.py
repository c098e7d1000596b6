"""Send Taqnyat SMS from Airflow callbacks (on failure, success, retry, SLA...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taqnyat_provider.notifications.base import TaqnyatNotifier

if TYPE_CHECKING:
    from taqnyat_provider.core.endpoints.sms import SmsMessage


class TaqnyatSmsNotifier(TaqnyatNotifier):
    """
    Text people when a task or DAG run needs them, e.g. ``on_failure_callback=send_taqnyat_sms(...)``.

    Follows the same checks and delivery rules as :class:`~taqnyat_provider.operators.sms.TaqnyatSmsOperator`.

    :param body: The text, e.g. ``"{{ ti.task_id }} failed in {{ dag.dag_id }}"``; templated.
    :param sender: A registered sender name; defaults to the connection's ``sender`` extra; templated.

    See :class:`~taqnyat_provider.notifications.base.TaqnyatNotifier` for ``recipients``,
    ``taqnyat_conn_id``, ``default_region``, ``batch_size``, ``dry_run`` and ``max_recipients``.
    """

    template_fields: Sequence[str] = ("body", "recipients", "sender", "taqnyat_conn_id", "send_dry_run")

    def __init__(self, *, body: str, recipients: Any, sender: str | None = None, **kwargs: Any) -> None:
        super().__init__(recipients=recipients, **kwargs)
        self.body = body
        self.sender = sender

    def message(self) -> SmsMessage:
        from taqnyat_provider.core.endpoints.sms import SmsMessage

        return SmsMessage(self.body, self.recipients, self.sender, default_region=self.default_region)


send_taqnyat_sms = TaqnyatSmsNotifier
