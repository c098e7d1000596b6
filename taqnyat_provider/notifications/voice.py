"""Place Taqnyat voice calls from Airflow callbacks (on failure, success, retry, SLA...)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from taqnyat_provider.delivery import DEFAULT_BATCH_SIZE
from taqnyat_provider.version_compat import notifier_init_kwargs

if TYPE_CHECKING:
    from taqnyat_provider.hooks.taqnyat import TaqnyatAsyncHook, TaqnyatHook


class TaqnyatVoiceNotifier(BaseNotifier):
    """
    Call people when a task or DAG run needs them, e.g. ``on_failure_callback=send_taqnyat_voice_call(...)``.

    Follows the same checks and delivery rules as :class:`~taqnyat_provider.operators.voice.TaqnyatVoiceOperator`:
    nobody is called twice, and an unknown outcome is never re-sent.

    :param audio_url: Absolute http(s) URL of the audio file; templated.
    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param caller_id: Caller ID; defaults to the connection's ``caller_id`` extra; templated.
    :param taqnyat_conn_id: The ``taqnyat`` connection; templated.
    :param default_region: Region for local numbers with a leading 0, e.g. ``"SA"``.
    """

    template_fields: Sequence[str] = ("audio_url", "recipients", "caller_id", "taqnyat_conn_id")

    def __init__(
        self,
        *,
        audio_url: str,
        recipients: Any,
        caller_id: str | None = None,
        taqnyat_conn_id: str = "taqnyat_default",
        default_region: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**notifier_init_kwargs(kwargs))
        self.audio_url = audio_url
        self.recipients = recipients
        self.caller_id = caller_id
        self.taqnyat_conn_id = taqnyat_conn_id
        self.default_region = default_region
        self.batch_size = batch_size

    @cached_property
    def hook(self) -> TaqnyatHook:
        from taqnyat_provider.hooks.taqnyat import TaqnyatHook

        return TaqnyatHook(taqnyat_conn_id=self.taqnyat_conn_id)

    @cached_property
    def async_hook(self) -> TaqnyatAsyncHook:
        from taqnyat_provider.hooks.taqnyat import TaqnyatAsyncHook

        return TaqnyatAsyncHook(taqnyat_conn_id=self.taqnyat_conn_id)

    def notify(self, context: Any) -> None:
        """Place the calls."""
        try:
            self.hook.place_voice_calls(
                self.audio_url,
                self.recipients,
                self.caller_id,
                batch_size=self.batch_size,
                default_region=self.default_region,
            )
        finally:
            self.hook.close()

    async def async_notify(self, context: Any) -> None:
        """Place the calls without blocking the event loop (triggerer, deadline alerts)."""
        await self.async_hook.place_voice_calls(
            self.audio_url,
            self.recipients,
            self.caller_id,
            batch_size=self.batch_size,
            default_region=self.default_region,
        )


send_taqnyat_voice_call = TaqnyatVoiceNotifier
