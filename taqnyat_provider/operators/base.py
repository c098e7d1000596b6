"""What every Taqnyat send operator shares: recipients, batching, the balance guard and the XCom shape."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow.providers.common.compat.sdk import AirflowSkipException, BaseOperator
from jinja2.nativetypes import NativeEnvironment

from taqnyat_provider.core.connection_settings import DEFAULT_CONN_ID
from taqnyat_provider.core.delivery import DEFAULT_BATCH_SIZE, check_batch_size, check_on_unknown
from taqnyat_provider.core.dry_run import (
    announce,
    check_max_recipients,
    enforce_max_recipients,
    read_dry_run,
    rehearsal,
)
from taqnyat_provider.core.errors import (
    IncompleteDeliveryError,
    InvalidInputError,
    TaqnyatBelowMinimumBalanceError,
    TaqnyatRecipientsRejectedError,
    sample,
)
from taqnyat_provider.core.lateness import describe, how_late, read_max_lateness
from taqnyat_provider.core.quiet_hours import DEFAULT_TIMEZONE, QuietHours, read_urgent

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from taqnyat_provider.core.delivery import DeliveryReport
    from taqnyat_provider.core.endpoints.account import Balance
    from taqnyat_provider.core.endpoints.sms import SmsMessage
    from taqnyat_provider.core.endpoints.voice import VoiceCall
    from taqnyat_provider.core.ledger import Ledger
    from taqnyat_provider.core.sending import PreparedSend
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook

PARTIAL_RESULT_XCOM_KEY = "partial_delivery"
TIMING_TEMPLATE_FIELDS: tuple[str, ...] = ("quiet_hours", "quiet_hours_timezone", "urgent")
"""The timing arguments every send operator templates (subclasses add them to their own)."""
SEND_TEMPLATE_FIELDS: tuple[str, ...] = (*TIMING_TEMPLATE_FIELDS, "send_dry_run")
"""Every templated argument of the base class: the timing ones and ``dry_run`` (kept as ``send_dry_run``)."""


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


def read_zone(name: Any) -> ZoneInfo:
    """A named IANA time zone such as ``Asia/Riyadh``; fixed offsets and abbreviations are refused."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"quiet_hours_timezone must be an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"quiet_hours_timezone {name!r} is not a known IANA time zone (e.g. 'Asia/Riyadh', 'Europe/London')"
        ) from None


def quiet_window(window: Any, zone: Any) -> QuietHours | None:
    """``quiet_hours`` in ``quiet_hours_timezone``, both rendered; None when there is no window."""
    parsed = QuietHours.parse(window, UTC)  # the window's own rules first; the zone only for a window
    return replace(parsed, zone=read_zone(zone)) if parsed else None


_PLAIN_NUMBERS = re.compile(r"[0-9+ .\-]*")
"""What a list of phone numbers holds when nothing in it is a template: no Jinja marker, no newline."""


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
    :param dry_run: Rehearse the send: check everything a send checks (the arguments, the
        recipients, ``max_recipients``, the connection, the audio check of a voice call, the balance
        when ``min_balance`` is set) and return the request bodies it would post, batch by batch,
        as XCom (``dry_run: True``, ``requests: [{"endpoint": ..., "json": body}, ...]``, counts),
        logging only counts and a sample of numbers. Nothing is sent and no send ledger is written.
        Quiet hours and ``max_lateness`` do not defer or skip a dry run: XCom ``guards`` says what
        they would do now. Templated (``"{{ params.dry_run }}"``): ``true``/``false``, ``yes``/``no``,
        ``1``/``0``, ``on``/``off`` or empty; anything else fails the task. Kept as the attribute
        ``send_dry_run`` (the name the Rendered Template view shows): ``dry_run()`` is Airflow's
        own operator method, behind ``airflow tasks test --dry-run``.
    :param max_recipients: Fail, before any request and without retry, a send with more recipients
        (counted after normalization and de-duplication) than this: a bug upstream that hands the
        task 50,000 numbers instead of 5 must not place 50,000 paid calls. Default None (no cap
        beyond the hard limit of 100,000 per task): no single number suits both a three-person
        on-call rota and a 100,000-customer campaign, and a default cap would break existing bulk
        sends on upgrade. Set it to a few times the list you expect.

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
        dry_run: bool | str = False,
        max_recipients: int | None = None,
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
        self.send_dry_run = dry_run
        self.max_recipients = check_max_recipients(max_recipients)
        # A mistake in a window that is not templated fails when the DAG file is parsed.
        if not _templated([quiet_hours, quiet_hours_timezone]):
            quiet_window(quiet_hours, quiet_hours_timezone)
        if not _templated(urgent):
            read_urgent(urgent)
        if not _templated(dry_run):
            read_dry_run(dry_run)

    def render_template(
        self, content: Any, context: Any, jinja_env: Any = None, seen_oids: set[int] | None = None
    ) -> Any:
        """
        A list of plain phone numbers renders to itself without Jinja compiling each one.

        Airflow compiles every string of a templated list as a template of its own (some 0.15 ms a
        number: 15 s for 100,000 recipients before the task starts). A number written with digits,
        ``+``, spaces, dashes and dots has nothing a template could change, under any of Airflow's
        environments but the native one, which turns a number's text into an int: that one, and
        any list holding something else, render as Airflow renders them.
        """
        if (
            content.__class__ in (list, tuple)
            and len(content) > 1
            and _PLAIN_NUMBERS.fullmatch("".join(item if item.__class__ is str else "{" for item in content))
        ):
            env = jinja_env or self.get_template_env()
            if not isinstance(env, NativeEnvironment):
                return content
        return super().render_template(content, context, jinja_env, seen_oids)

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
        window = quiet_window(self.quiet_hours, self.quiet_hours_timezone)
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
        from taqnyat_provider.core.errors import LedgerUnavailableError
        from taqnyat_provider.ledger_stores import send_started

        try:
            return send_started(ledger) or ledger.store.get(_deferred_key(ledger)) is not None
        except Exception as error:
            raise LedgerUnavailableError(
                f"Cannot read the send ledger ({ledger.where}): {error}. Nothing was sent"
            ) from error

    def _lateness(self, context: Context, now: datetime) -> tuple[datetime, datetime, timedelta] | None:
        """When a scheduled run was due, when it was allowed to start, and how late it is now."""
        if self.max_lateness is None:
            return None
        due = _due(context)
        if due is None:
            return None
        # Quiet hours that held the due time move it: the send was allowed to start when they ended.
        window = quiet_window(self.quiet_hours, self.quiet_hours_timezone)
        allowed = (window.ends_after(due) if window else None) or due
        return due, allowed, how_late(allowed, now)

    def _skip_if_late(self, context: Context, now: datetime) -> None:
        lateness = self._lateness(context, now)
        if lateness is None:
            return
        due, allowed, late = lateness
        assert self.max_lateness is not None
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
        window = quiet_window(self.quiet_hours, self.quiet_hours_timezone)
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
            if read_dry_run(self.send_dry_run):
                try:
                    return self._rehearse(hook, context)
                finally:
                    hook.close()
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
                enforce_max_recipients(prepared, self.max_recipients)
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

    def _rehearse(self, hook: TaqnyatHook, context: Context) -> dict[str, Any]:
        """
        ``dry_run``: every check a send makes, in the same order, and the requests it would post;
        no POST, no send ledger (not even read: a rehearsal describes a fresh send), no deferral.
        """
        import json

        self.log.info("Dry run: checking the send and building its requests; nothing will be sent")
        hook.settings.require_token()
        hook.check_connection_settings()  # an unreadable CA bundle fails here too
        now = utcnow()
        prepared = self.message().prepare(hook.settings)
        enforce_max_recipients(prepared, self.max_recipients)
        guards = self._guards(context, now)
        self.preflight(hook, prepared)
        result = rehearsal(prepared, self.batch_size)
        if self.min_balance is not None:
            balance = self._check_balance(hook)
            result["balance"] = {
                "balance": str(balance.balance),
                "currency": balance.currency,
                "min_balance": str(self.min_balance),
            }
        result["guards"] = guards
        announce(self.log, prepared, result)
        self.log.info(
            "Dry run: the request bodies are in XCom 'requests' (%d bytes of JSON)",
            len(json.dumps(result["requests"], separators=(",", ":"))),
        )
        return result

    def _guards(self, context: Context, now: datetime) -> dict[str, Any]:
        """What quiet hours and ``max_lateness`` would do to a real send now (a dry run only reports it)."""
        guards: dict[str, Any] = {}
        if self.max_lateness is not None:
            lateness = self._lateness(context, now)
            if lateness is None:
                guards["max_lateness"] = {"applies": False, "why": "not a scheduled run"}
            else:
                due, allowed, late = lateness
                skip = late > self.max_lateness
                guards["max_lateness"] = {
                    "applies": True,
                    "due": due.isoformat(),
                    "allowed_from": allowed.isoformat(),
                    "late_seconds": int(late.total_seconds()),
                    "max_lateness_seconds": int(self.max_lateness.total_seconds()),
                    "would_skip": skip,
                }
                if skip:
                    self.log.warning(
                        "Dry run: a real send would be skipped now: %s late, more than max_lateness (%s)",
                        describe(late),
                        describe(self.max_lateness),
                    )
        window = quiet_window(self.quiet_hours, self.quiet_hours_timezone)
        if window is not None:
            if not self.waits_for_quiet_hours():
                guards["quiet_hours"] = {"window": str(window), "applies": False, "why": "scheduled SMS"}
                return guards
            ends = window.ends_after(now)
            urgent = read_urgent(self.urgent)
            until = ends.astimezone(window.zone).isoformat() if ends is not None and not urgent else None
            guards["quiet_hours"] = {
                "window": str(window),
                "applies": True,
                "inside": ends is not None,
                "urgent": urgent,
                "would_defer_until": until,
            }
            if until is not None:
                self.log.warning(
                    "Dry run: inside quiet hours %s, a real send would defer until %s", window, until
                )
        return guards

    def _check_balance(self, hook: TaqnyatHook) -> Balance:
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
        return balance

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
