"""What the voice and SMS notifiers share: the connection, cached hooks, and sending from callbacks."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from taqnyat_provider.connection_settings import DEFAULT_CONN_ID
from taqnyat_provider.delivery import DEFAULT_BATCH_SIZE
from taqnyat_provider.version_compat import notifier_init_kwargs

if TYPE_CHECKING:
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook
    from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook
    from taqnyat_provider.ledger import Ledger
    from taqnyat_provider.messages import PreparedSend, SmsMessage, VoiceCall


class TaqnyatNotifier(BaseNotifier):
    """
    Base of the voice and SMS notifiers; subclasses only say what they send (``message``).

    Follows the operators' checks and delivery rules: nobody is reached twice, and a send whose
    outcome is unknown is never re-sent. In a task's callback the send is kept in a send ledger for
    that try, so a callback that runs twice for the same try does not call anyone twice; where no
    ledger can be reached (a DAG-level or deadline callback), the notifier sends without one.

    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param taqnyat_conn_id: The ``taqnyat`` connection; templated.
    :param default_region: Region for local numbers with a leading 0, e.g. ``"SA"``.
    :param batch_size: Recipients per request (1 to 1000).
    """

    def __init__(
        self,
        *,
        recipients: Any,
        taqnyat_conn_id: str = DEFAULT_CONN_ID,
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
        from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook

        return TaqnyatAsyncHook(taqnyat_conn_id=self.taqnyat_conn_id)

    def _ledger(self, context: Any, prepared: PreparedSend) -> Ledger | None:
        """This callback's ledger entry for this try, or None outside a task instance's callback."""
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is None or not all(hasattr(ti, name) for name in ("dag_id", "run_id", "task_id", "try_number")):
            return None
        from taqnyat_provider.ledger_variables import task_ledger

        scope = f"notify:{prepared.digest(self.batch_size)[:16]}:try{ti.try_number}"
        return task_ledger(context, scope=scope)

    def _reachable(self, ledger: Ledger | None) -> Ledger | None:
        if ledger is None:
            return None
        try:
            ledger.store.load(ledger.key)
        except Exception as error:
            self.log.warning("No send ledger here (%s): sending without one", error)
            return None
        return ledger

    def _update_context(self, context: Any) -> Any:
        context = super()._update_context(context)
        # A deadline alert's context has the run as the REST API shows it (``dag_run_id``); give
        # it the ``run_id`` that templates written for task callbacks use.
        dag_run = context.get("dag_run") if "deadline" in context else None
        if isinstance(dag_run, dict) and "dag_run_id" in dag_run:
            dag_run.setdefault("run_id", dag_run["dag_run_id"])
        return context

    def _announce(self, context: Any, prepared: PreparedSend) -> None:
        """A deadline alert says which run missed its deadline: the triggerer's log is where it is read."""
        deadline = context.get("deadline") if hasattr(context, "get") else None
        if not isinstance(deadline, dict):
            return
        dag_run = context.get("dag_run")
        run = dag_run if isinstance(dag_run, dict) else vars(dag_run) if dag_run is not None else {}
        dag_id, run_id = run.get("dag_id"), run.get("run_id") or run.get("dag_run_id")
        self.log.warning(
            "Deadline missed by DAG %s, run %s (deadline %s): sending %s to %d recipient(s)",
            dag_id,
            run_id,
            deadline.get("deadline_time"),
            prepared.what,
            len(prepared.recipients),
        )

    def notify(self, context: Any) -> None:
        try:
            prepared = self.message().prepare(self.hook.settings)
            self._announce(context, prepared)
            ledger = self._reachable(self._ledger(context, prepared))
            self.hook.deliver(prepared, self.batch_size, ledger=ledger)
        finally:
            self.hook.close()

    async def async_notify(self, context: Any) -> None:
        """Send without blocking the event loop (triggerer, deadline alerts)."""
        import asyncio

        hook = self.async_hook
        try:
            prepared = self.message().prepare(await hook.get_settings())
            self._announce(context, prepared)
            ledger = await asyncio.to_thread(self._reachable, self._ledger(context, prepared))
            await hook.deliver(prepared, self.batch_size, ledger=ledger)
        finally:
            await hook.close()
