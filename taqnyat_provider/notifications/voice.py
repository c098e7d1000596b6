"""Place Taqnyat voice calls from Airflow callbacks (on failure, success, retry, SLA...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taqnyat_provider.notifications.base import TaqnyatNotifier

if TYPE_CHECKING:
    from taqnyat_provider.core.endpoints.voice import VoiceCall


class TaqnyatVoiceNotifier(TaqnyatNotifier):
    """
    Call people when a task or DAG run needs them, e.g. ``on_failure_callback=send_taqnyat_voice_call(...)``.

    Follows the same checks and delivery rules as :class:`~taqnyat_provider.operators.voice.TaqnyatVoiceOperator`.

    :param audio_url: Absolute http(s) URL of the audio file; templated.
    :param caller_id: Caller ID; defaults to the connection's ``caller_id`` extra; templated.

    See :class:`~taqnyat_provider.notifications.base.TaqnyatNotifier` for ``recipients``,
    ``taqnyat_conn_id``, ``default_region``, ``batch_size``, ``dry_run`` and ``max_recipients``.
    """

    template_fields: Sequence[str] = (
        "audio_url",
        "recipients",
        "caller_id",
        "taqnyat_conn_id",
        "send_dry_run",
    )

    def __init__(
        self, *, audio_url: str, recipients: Any, caller_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(recipients=recipients, **kwargs)
        self.audio_url = audio_url
        self.caller_id = caller_id

    def message(self) -> VoiceCall:
        from taqnyat_provider.core.endpoints.voice import VoiceCall

        return VoiceCall(self.audio_url, self.recipients, self.caller_id, self.default_region)


send_taqnyat_voice_call = TaqnyatVoiceNotifier
