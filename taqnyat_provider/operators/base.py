"""What every Taqnyat send operator shares: recipients, batching, the balance guard and the XCom shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSkipException, BaseOperator

from taqnyat_provider.connection_settings import DEFAULT_CONN_ID
from taqnyat_provider.delivery import DEFAULT_BATCH_SIZE, check_batch_size, check_on_unknown
from taqnyat_provider.exceptions import (
    IncompleteDeliveryError,
    InvalidInputError,
    TaqnyatBelowMinimumBalanceError,
    TaqnyatRecipientsRejectedError,
    sample,
)
from taqnyat_provider.lateness import describe, how_late, read_max_lateness
from taqnyat_provider.quiet_hours import DEFAULT_TIMEZONE, QuietHours, read_urgent

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from taqnyat_provider.delivery import DeliveryReport
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook
    from taqnyat_provider.ledger import Ledger
    from taqnyat_provider.messages import PreparedSend, SmsMessage, VoiceCall

PARTIAL_RESULT_XCOM_KEY = "partial_delivery"
TIMING_TEMPLATE_FIELDS: tuple[str, ...] = ("quiet_hours", "quiet_hours_timezone", "urgent")
"""The timing arguments every send operator templates (subclasses add them to their own)."""


def utcnow() -> datetime:
    """The operators' clock (one place, so tests can stand it at 23:00 Riyadh time)."""
    return datetime.now(UTC)


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Sequence):
        return any(_templated(item) for item in value)
    return False


def _date_time_trigger(moment: datetime) -> Any:
    try:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    except ImportError:  # Airflow 2.11 without the standard provider: the same trigger, in core
        from airflow.triggers.temporal import DateTimeTrigger  # type: ignore[no-redef]
    return DateTimeTrigger(moment=moment)


def _due(context: Context) -> datetime | None:
    """
    When a scheduled run was due to start; None for other runs (manual, backfill, asset-triggered).

    Airflow 3 says it as the run's ``run_after``; Airflow 2.11 as the end of its data interval
    (for a cron trigger timetable, its logical date, which 2.11 also gives as the interval's end).
    """
    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None)
    if getattr(run_type, "value", run_type) != "scheduled":
        return None
    for moment in (
        getattr(dag_run, "run_after", None),
        context.get("data_interval_end"),
        getattr(dag_run, "data_interval_end", None),
        context.get("logical_date"),
    ):
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            return moment
    return None


def _deferred_key(ledger: Ledger) -> str:
    """Where a send deferred for quiet hours says so (beside its ledger entry)."""
    return f"{ledger.space}.deferred"


def _read_min_balance(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise InvalidInputError(f"min_balance must be a non-negative amount, got {value!r}")
    return amount


class TaqnyatSendOperator(BaseOperator):
    """
    Base of the voice and SMS operators; subclasses only say what they send (``message``).

    Every argument is checked before any request. Recipients go in batches of ``batch_size``, in
    order, over one kept-alive session, and each batch's fate is kept in a send ledger (the task's
    task state store on Airflow 3.3+, Airflow Variables before) that outlives the try and the worker. A later try — an Airflow retry after a 429 in
    batch 57, a worker killed mid-send, an ``execution_timeout`` — skips what was delivered, sends
    what never went out, and never re-sends a batch whose outcome is unknown unless ``on_unknown``
    says so. The XCom is the whole send's result, whichever tries delivered it. When a try stops
    after delivering some batches, what it knows is pushed to XCom under ``partial_delivery``.

    :param recipients: Numbers as a list, or one string separated by commas or new lines; templated.
    :param taqnyat_conn_id: The ``taqnyat`` connection.
    :param batch_size: Recipients per request (1 to 1000).
    :param fail_on_rejected: Fail the task, after every batch was sent, when the API rejected any number.
    :param default_region: Region for local numbers with a leading 0, e.g. ``"SA"``.
    :param min_balance: When set, check the balance first and fail, sending nothing, if it is lower.
    :param on_unknown: A batch whose outcome is unknown (the answer was lost, the worker died while
        it was in flight): ``"fail"`` (default) fails the task without retry and names who may have
        been reached; ``"skip"`` counts them as maybe reached (XCom ``maybe_reached``) and goes on;
        ``"resend"`` sends them again on the next try — they may be called or texted twice.
    :param quiet_hours: A daily window when nobody is called or texted, e.g. ``("22:00", "07:00")``
        or ``"22:00-07:00"`` (past midnight when the end is earlier); templated. A send that would
        start inside it defers (no worker slot is held) until the window ends, then sends.
    :param quiet_hours_timezone: The IANA time zone of ``quiet_hours`` (default ``Asia/Riyadh``);
        wall-clock time, so a window stays put across daylight-saving changes; templated.
    :param urgent: Send at once even inside ``quiet_hours``; templated (``"{{ params.urgent }}"``).
    :param max_lateness: Skip (not fail) a *scheduled* run whose send would start more than this
        long after the run was due (e.g. ``timedelta(minutes=30)``): after an unpause or an outage,
        Airflow starts the last missed run at once, and a reminder call hours late is wrong.
        Manual and backfill runs are never skipped.

    Quiet hours and ``max_lateness`` guard the *start* of a send: a later try of a send that already
    began or was deferred (the send ledger has it) finishes it without waiting or skipping, and
    lateness counts from when the send was allowed to start (the end of quiet hours that held its
    due time). A send that completed stays in the ledger, marked complete: a try after a failure
    past ``execute`` (an XCom backend, ``map_index_template``) returns the same result, sending nothing.
    """

    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        recipients: Any,
        taqnyat_conn_id: str = DEFAULT_CONN_ID,
        batch_size: int = DEFAULT_BATCH_SIZE,
        fail_on_rejected: bool = False,
        default_region: str | None = None,
        min_balance: Decimal | float | str | None = None,
        on_unknown: str = "fail",
        quiet_hours: Any = None,
        quiet_hours_timezone: str = DEFAULT_TIMEZONE,
        urgent: bool | str = False,
        max_lateness: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients
        self.taqnyat_conn_id = taqnyat_conn_id
        self.batch_size = check_batch_size(batch_size)
        self.on_unknown = check_on_unknown(on_unknown)
        self.fail_on_rejected = fail_on_rejected
        self.default_region = default_region
        self.min_balance = _read_min_balance(min_balance)
        self.quiet_hours = quiet_hours
        self.quiet_hours_timezone = quiet_hours_timezone
        self.urgent = urgent
        self.max_lateness = read_max_lateness(max_lateness)
        # A mistake in a window that is not templated fails when the DAG file is parsed.
        if not _templated([quiet_hours, quiet_hours_timezone]):
            QuietHours.parse(quiet_hours, quiet_hours_timezone)
        if not _templated(urgent):
            read_urgent(urgent)

    def message(self) -> VoiceCall | SmsMessage:
        """The send this task makes, from its rendered arguments."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        return self._send(context)

    def execute_after_quiet_hours(
        self,
        context: Context,
        event: Any = None,
        deferred_until: str | None = None,
        quiet_hours: str | None = None,
    ) -> dict[str, Any]:
        """Where a send deferred by ``quiet_hours`` resumes once the window is over."""
        window = QuietHours.parse(self.quiet_hours, self.quiet_hours_timezone)
        # The trigger's event is the moment it waited for; ``airflow dags test`` passes only the event.
        if deferred_until is None:
            moment = datetime.fromisoformat(event) if isinstance(event, str) else event
            if isinstance(moment, datetime) and moment.tzinfo is not None:
                deferred_until = moment.astimezone(window.zone if window else UTC).isoformat()
        self.log.info(
            "Quiet hours %s are over (deferred until %s): sending", quiet_hours or window, deferred_until
        )
        return self._send(context, deferred_until=deferred_until or "the end of quiet hours")

    def waits_for_quiet_hours(self) -> bool:
        """Whether this send's moment is now (the SMS operator's scheduled sends have their own)."""
        return True

    def preflight(self, hook: TaqnyatHook, prepared: PreparedSend) -> None:
        """Checks of what the send refers to, right before it starts (the voice operator's audio check)."""

    def _send_under_way(self, ledger: Ledger) -> bool:
        """
        Whether an earlier try already began this send or deferred it for quiet hours: then it is
        finished, never skipped as late nor held again. An unreadable ledger stops the try (retryable).
        """
        from taqnyat_provider.exceptions import LedgerUnavailableError
        from taqnyat_provider.ledger_stores import send_started

        try:
            return send_started(ledger) or ledger.store.get(_deferred_key(ledger)) is not None
        except Exception as error:
            raise LedgerUnavailableError(
                f"Cannot read the send ledger ({ledger.where}): {error}. Nothing was sent"
            ) from error

    def _skip_if_late(self, context: Context, now: datetime) -> None:
        if self.max_lateness is None:
            return
        due = _due(context)
        if due is None:
            return
        # Quiet hours that held the due time move it: the send was allowed to start when they ended.
        window = QuietHours.parse(self.quiet_hours, self.quiet_hours_timezone)
        allowed = (window.ends_after(due) if window else None) or due
        late = how_late(allowed, now)
        if late > self.max_lateness:
            held = f" (quiet hours held it until {allowed.isoformat()})" if allowed != due else ""
            message = (
                f"Skipping: this scheduled run was due at {due.isoformat()}{held} and would send "
                f"{describe(late)} late, more than max_lateness ({describe(self.max_lateness)}); "
                "nothing was sent"
            )
            self.log.warning("%s", message)
            raise AirflowSkipException(message)
        self.log.info(
            "This scheduled run sends %s after it was due (max_lateness %s)",
            describe(late),
            describe(self.max_lateness),
        )

    def _defer_if_quiet(self, now: datetime, ledger: Ledger) -> None:
        window = QuietHours.parse(self.quiet_hours, self.quiet_hours_timezone)
        if window is None:
            return
        ends = window.ends_after(now)
        if ends is None:
            return
        if read_urgent(self.urgent):
            self.log.info("Inside quiet hours %s, but urgent=True: sending now", window)
            return
        local_end = ends.astimezone(window.zone)
        self.log.info(
            "Inside quiet hours %s (now %s): deferring until %s, without holding a worker slot",
            window,
            now.astimezone(window.zone).strftime("%Y-%m-%d %H:%M %Z"),
            local_end.strftime("%Y-%m-%d %H:%M %Z"),
        )
        # Said durably first: the try that sends after the window is never skipped as late (nor held).
        ledger.store.put(
            _deferred_key(ledger), {"until": local_end.isoformat(), "try": ledger.try_number}, keep=False
        )
        self.defer(
            trigger=_date_time_trigger(ends),
            method_name="execute_after_quiet_hours",
            kwargs={"deferred_until": local_end.isoformat(), "quiet_hours": str(window)},
        )

    def _send(self, context: Context, deferred_until: str | None = None) -> dict[str, Any]:
        from taqnyat_provider.airflow_errors import airflow_semantics
        from taqnyat_provider.hooks.taqnyat import TaqnyatHook
        from taqnyat_provider.ledger_stores import sweep, task_ledger

        hook = TaqnyatHook(taqnyat_conn_id=self.taqnyat_conn_id)
        with airflow_semantics():
            try:
                ledger = task_ledger(context, hook.settings.require_token())
                guarded = self.max_lateness is not None or self.quiet_hours
                if guarded and self._send_under_way(ledger):
                    self.log.info(
                        "This send started or was deferred on an earlier try: finishing it "
                        "(no lateness or quiet-hours wait)"
                    )
                    guarded = False
                now = utcnow()
                if guarded and deferred_until is None:
                    self._skip_if_late(context, now)
                prepared = self.message().prepare(hook.settings)
                if guarded and self.waits_for_quiet_hours():
                    self._defer_if_quiet(now, ledger)  # after the arguments were checked: a mistake fails now
                self.preflight(hook, prepared)
                if self.min_balance is not None:
                    self._check_balance(hook)
                try:
                    report = hook.deliver(
                        prepared, self.batch_size, ledger=ledger, on_unknown=self.on_unknown
                    )
                except IncompleteDeliveryError as error:
                    context["ti"].xcom_push(key=PARTIAL_RESULT_XCOM_KEY, value=error.partial_result)
                    raise
            finally:
                hook.close()
            result = self._finish(report, context)
            if deferred_until is not None:
                result["deferred_until"] = deferred_until
        # The entry stays: it is marked complete, so a try after a failure past this point (the
        # XCom push, map_index_template) replays the result without sending. Only other, old,
        # complete entries are removed, and only where Variables hold them.
        sweep(ledger, self.log)
        return result

    def _check_balance(self, hook: TaqnyatHook) -> None:
        balance = hook.get_balance()
        assert self.min_balance is not None
        if balance.balance < self.min_balance:
            raise TaqnyatBelowMinimumBalanceError(
                f"Balance {balance.balance} {balance.currency or ''} is below min_balance {self.min_balance}; "
                "nothing was sent. Top up the Taqnyat account."
            )
        self.log.info(
            "Balance %s %s covers min_balance %s", balance.balance, balance.currency or "", self.min_balance
        )

    def _finish(self, report: DeliveryReport, context: Context) -> dict[str, Any]:
        result = report.to_xcom()
        self.log.info(
            "Delivered to %d recipient(s) in %d request(s); message ids %s; cost %s %s",
            len(result["accepted"]),
            len(result["message_ids"]),
            sample(result["message_ids"]),
            result["cost"],
            result["currency"] or "",
        )
        if result["maybe_reached"]:
            self.log.warning(
                "%d recipient(s) may have been reached (outcome unknown, skipped): %s",
                len(result["maybe_reached"]),
                sample(result["maybe_reached"]),
            )
        if result["rejected"]:
            self.log.warning(
                "Taqnyat rejected %d number(s): %s", len(result["rejected"]), sample(result["rejected"])
            )
            if self.fail_on_rejected:
                context["ti"].xcom_push(key=PARTIAL_RESULT_XCOM_KEY, value=result)
                raise TaqnyatRecipientsRejectedError(result["rejected"])
        return result
