"""What the voice and SMS notifiers share: the connection, cached hooks, and sending from callbacks."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from taqnyat_provider.core.connection_settings import DEFAULT_CONN_ID
from taqnyat_provider.core.delivery import DEFAULT_BATCH_SIZE
from taqnyat_provider.core.dry_run import (
    announce,
    check_max_recipients,
    enforce_max_recipients,
    read_dry_run,
    rehearsal,
)
from taqnyat_provider.core.errors import LedgerUnavailableError
from taqnyat_provider.version_compat import notifier_init_kwargs

if TYPE_CHECKING:
    from taqnyat_provider.core.endpoints.sms import SmsMessage
    from taqnyat_provider.core.endpoints.voice import VoiceCall
    from taqnyat_provider.core.ledger import Ledger
    from taqnyat_provider.core.sending import PreparedSend
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook
    from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook


class TaqnyatNotifier(BaseNotifier):
    """
    Base of the voice and SMS notifiers; subclasses only say what they send (``message``).

    Follows the operators' checks and delivery rules: nobody is reached twice, and a send whose
    outcome is unknown is never re-sent. In a task's callback the send is kept in a send ledger for
    that try (the task instance's task state store on Airflow 3.3+, Variables before), so a callback
    that runs twice for the same try does not call anyone twice; where no task instance exists (a
    DAG-level or deadline callback), the notifier sends without one.

    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param taqnyat_conn_id: The ``taqnyat`` connection; templated.
    :param default_region: Region for local numbers with a leading 0, e.g. ``"SA"``.
    :param batch_size: Recipients per request (1 to 1000).
    :param dry_run: Rehearse: check the arguments, the recipients, ``max_recipients`` and the
        connection, then log what would be sent (counts, a sample of numbers, the message's fields
        as rendered) instead of sending; no send ledger is written. The result (the shape of the
        operators' dry-run XCom) is kept in ``dry_run_result``. Templated (``"{{ params.dry_run }}"``),
        read like the operators' ``dry_run``; kept as ``send_dry_run``.
    :param max_recipients: Raise ``TooManyRecipientsError``, sending nothing, when the rendered
        recipients (after normalization) are more than this. Default None: an alert's list is
        usually written in the DAG; set it when the recipients come from a template or an XCom.
    """

    def __init__(
        self,
        *,
        recipients: Any,
        taqnyat_conn_id: str = DEFAULT_CONN_ID,
        default_region: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        dry_run: bool | str = False,
        max_recipients: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**notifier_init_kwargs(kwargs))
        self.recipients = recipients
        self.taqnyat_conn_id = taqnyat_conn_id
        self.default_region = default_region
        self.batch_size = batch_size
        self.send_dry_run = dry_run
        self.max_recipients = check_max_recipients(max_recipients)
        self.dry_run_result: dict[str, Any] | None = None
        if not (isinstance(dry_run, str) and ("{{" in dry_run or "{%" in dry_run)):
            read_dry_run(dry_run)  # a mistake that is not templated fails when the DAG file is parsed

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

    def _ledger(self, context: Any, prepared: PreparedSend, token: str) -> Ledger | None:
        """
        This callback's ledger for this try, in the task instance's own store (its task state store
        on Airflow 3.3+): a task callback that runs twice for one try calls nobody twice.

        None where no task instance exists (a DAG-level callback, a deadline alert in the
        triggerer): no store is shared by whatever might run the callback again, and Airflow does
        not retry those callbacks, so the send goes out once without a ledger.
        """
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is None or not all(hasattr(ti, name) for name in ("dag_id", "run_id", "task_id", "try_number")):
            return None
        from taqnyat_provider.core.ledger import digest, ledger_secret
        from taqnyat_provider.ledger_stores import task_ledger

        send = digest(prepared.canonical(self.batch_size), ledger_secret(token))[:16]
        return task_ledger(context, token, scope=f"notify.{send}.try{ti.try_number}")

    def _without_ledger(self, ledger: Ledger | None, error: LedgerUnavailableError) -> None:
        """
        A ledger that fails before anybody was reached (its first read or write: a store that
        cannot be reached, an API server down during a failure callback) is no reason to drop an
        alert: the send goes out without one, and a warning says so. A plain
        ``LedgerUnavailableError`` is raised only then; once a batch may have reached somebody the
        delivery engine raises an incomplete-delivery error instead, which goes up as it is. (On
        Airflow 3 an ``on_retry_callback`` meets this: its task instance has already moved to its
        next try, and the store no longer takes writes for the old one.)
        """
        if ledger is None or type(error) is not LedgerUnavailableError:
            raise error
        self.log.warning("The send ledger failed before anything was sent (%s): sending without one", error)

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

    def _rehearse(self, prepared: PreparedSend) -> None:
        """``dry_run``: say what would be sent, send nothing, write no ledger."""
        result = rehearsal(prepared, self.batch_size)
        announce(self.log, prepared, result)
        # A notifier has no XCom and no Rendered Template view: the log shows what the templates made.
        self.log.info("Dry run: the message's fields: %s", prepared.fields)
        self.dry_run_result = result

    def notify(self, context: Any) -> None:
        from taqnyat_provider.ledger_stores import sweep

        dry_run = read_dry_run(self.send_dry_run)
        try:
            settings = self.hook.settings
            prepared = self.message().prepare(settings)
            enforce_max_recipients(prepared, self.max_recipients)
            self._announce(context, prepared)
            token = settings.require_token()
            if dry_run:
                self.hook.check_connection_settings()  # an unreadable CA bundle fails here
                self._rehearse(prepared)
                return
            ledger = self._ledger(context, prepared, token)
            try:
                self.hook.deliver(prepared, self.batch_size, ledger=ledger)
            except LedgerUnavailableError as error:
                self._without_ledger(ledger, error)
                ledger = None
                self.hook.deliver(prepared, self.batch_size)
        finally:
            self.hook.close()
        if ledger is not None:
            sweep(ledger, self.log)

    async def async_notify(self, context: Any) -> None:
        """Send without blocking the event loop (triggerer, deadline alerts)."""
        import asyncio

        from taqnyat_provider.ledger_stores import sweep

        dry_run = read_dry_run(self.send_dry_run)
        hook = self.async_hook
        try:
            settings = await hook.get_settings()
            prepared = self.message().prepare(settings)
            enforce_max_recipients(prepared, self.max_recipients)
            self._announce(context, prepared)
            token = settings.require_token()
            if dry_run:
                await hook.check_connection_settings()
                self._rehearse(prepared)
                return
            ledger = self._ledger(context, prepared, token)
            try:
                await hook.deliver(prepared, self.batch_size, ledger=ledger)
            except LedgerUnavailableError as error:
                self._without_ledger(ledger, error)
                ledger = None
                await hook.deliver(prepared, self.batch_size)
        finally:
            await hook.close()
        if ledger is not None:
            await asyncio.to_thread(sweep, ledger, self.log)
