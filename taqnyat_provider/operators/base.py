"""What every Taqnyat send operator shares: recipients, batching, the balance guard and the XCom shape."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from taqnyat_provider.connection_settings import DEFAULT_CONN_ID
from taqnyat_provider.delivery import DEFAULT_BATCH_SIZE, check_batch_size, check_on_unknown
from taqnyat_provider.exceptions import (
    IncompleteDeliveryError,
    InvalidInputError,
    TaqnyatBelowMinimumBalanceError,
    TaqnyatRecipientsRejectedError,
    sample,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from taqnyat_provider.delivery import DeliveryReport
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook
    from taqnyat_provider.messages import SmsMessage, VoiceCall

PARTIAL_RESULT_XCOM_KEY = "partial_delivery"


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
    order, over one kept-alive session, and each batch's fate is kept in a send ledger (an Airflow
    Variable) that outlives the try and the worker. A later try — an Airflow retry after a 429 in
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

    def message(self) -> VoiceCall | SmsMessage:
        """The send this task makes, from its rendered arguments."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        from taqnyat_provider.airflow_errors import airflow_semantics
        from taqnyat_provider.hooks.taqnyat import TaqnyatHook
        from taqnyat_provider.ledger_variables import forget, task_ledger

        hook = TaqnyatHook(taqnyat_conn_id=self.taqnyat_conn_id)
        with airflow_semantics():
            try:
                prepared = self.message().prepare(hook.settings)
                if self.min_balance is not None:
                    self._check_balance(hook)
                ledger = task_ledger(context)
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
            forget(ledger, self.log)
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
