"""Place Taqnyat voice calls from a task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taqnyat_provider.operators.base import TaqnyatSendOperator

if TYPE_CHECKING:
    from taqnyat_provider.messages import VoiceCall


class TaqnyatVoiceOperator(TaqnyatSendOperator):
    """
    Call each recipient once and play ``audio_url`` (``POST /voiceSend.php/``).

    Returns to XCom ``message_ids``, ``accepted``, ``rejected``, ``cost`` (a decimal string, SAR)
    and per-batch details. Every Taqnyat error code fails the task without Airflow retries.

    :param audio_url: Absolute http(s) URL of the audio file; templated.
    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param caller_id: Caller ID in international format; defaults to the connection's ``caller_id``
        extra; templated.

    See :class:`~taqnyat_provider.operators.base.TaqnyatSendOperator` for ``batch_size``,
    ``fail_on_rejected``, ``default_region``, ``min_balance`` and ``taqnyat_conn_id``.
    """

    template_fields: Sequence[str] = ("audio_url", "recipients", "caller_id")
    ui_color = "#d9eefb"

    def __init__(
        self, *, audio_url: str, recipients: Any, caller_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(recipients=recipients, **kwargs)
        self.audio_url = audio_url
        self.caller_id = caller_id

    def message(self) -> VoiceCall:
        from taqnyat_provider.messages import VoiceCall

        return VoiceCall(self.audio_url, self.recipients, self.caller_id, self.default_region)
