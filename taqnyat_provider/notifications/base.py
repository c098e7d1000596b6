"""What the voice and SMS notifiers share: the connection, cached hooks, and sending from callbacks."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from taqnyat_provider.delivery import DEFAULT_BATCH_SIZE
from taqnyat_provider.version_compat import notifier_init_kwargs

if TYPE_CHECKING:
    from taqnyat_provider.hooks.taqnyat import TaqnyatAsyncHook, TaqnyatHook
    from taqnyat_provider.sends import SmsMessage, VoiceCall


class TaqnyatNotifier(BaseNotifier):
    """
    Base of the voice and SMS notifiers; subclasses only say what they send (``message``).

    Follows the operators' checks and delivery rules: nobody is reached twice, and a send whose
    outcome is unknown is never re-sent.

    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param taqnyat_conn_id: The ``taqnyat`` connection; templated.
    :param default_region: Region for local numbers with a leading 0, e.g. ``"SA"``.
    :param batch_size: Recipients per request (1 to 1000).
    """

    def __init__(
        self,
        *,
        recipients: Any,
        taqnyat_conn_id: str = "taqnyat_default",
        default_region: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**notifier_init_kwargs(kwargs))
        self.recipients = recipients
        self.taqnyat_conn_id = taqnyat_conn_id
        self.default_region = default_region
        self.batch_size = batch_size

    def message(self) -> VoiceCall | SmsMessage:
        """The send this notification makes, from its rendered arguments."""
        raise NotImplementedError

    @cached_property
    def hook(self) -> TaqnyatHook:
        from taqnyat_provider.hooks.taqnyat import TaqnyatHook

        return TaqnyatHook(taqnyat_conn_id=self.taqnyat_conn_id)

    @cached_property
    def async_hook(self) -> TaqnyatAsyncHook:
        from taqnyat_provider.hooks.taqnyat import TaqnyatAsyncHook

        return TaqnyatAsyncHook(taqnyat_conn_id=self.taqnyat_conn_id)

    def notify(self, context: Any) -> None:
        try:
            self.hook.deliver(self.message().prepare(self.hook.settings), self.batch_size)
        finally:
            self.hook.close()

    async def async_notify(self, context: Any) -> None:
        """Send without blocking the event loop (triggerer, deadline alerts)."""
        settings = await self.async_hook.get_settings()
        await self.async_hook.deliver(self.message().prepare(settings), self.batch_size)
