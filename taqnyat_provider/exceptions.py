"""
Errors raised by the Taqnyat provider.

Everything here derives from ``TaqnyatError``, an ``AirflowException``. Errors that another try
cannot cure, or whose retry could call somebody twice, also derive from ``AirflowFailException``
so the task fails at once instead of spending its Airflow retries.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from taqnyat_provider import error_codes


class TaqnyatError(AirflowException):
    """Base class of every error this provider raises."""


class TaqnyatConfigurationError(TaqnyatError, AirflowFailException):
    """The connection or the task's arguments are wrong; nothing was sent."""


class InvalidInputError(TaqnyatConfigurationError, ValueError):
    """A task argument is invalid; raised before any request is made."""


class InvalidRecipientsError(InvalidInputError):
    """One or more recipients are not valid phone numbers; none was sent."""

    def __init__(self, problems: Sequence[tuple[object, str]]):
        self.problems = list(problems)
        self.invalid = [entry for entry, _ in self.problems]
        listed = "; ".join(f"{entry!r}: {reason}" for entry, reason in self.problems)
        super().__init__(f"Invalid recipients, nothing was sent: {listed}")


class TaqnyatResponseError(TaqnyatError):
    """The server's answer could not be understood (HTML page, garbage, empty or contradictory body)."""

    def __init__(self, message: str, *, http_status: int | None = None, body_excerpt: str = ""):
        self.http_status = http_status
        self.body_excerpt = body_excerpt
        detail = f" (HTTP {http_status})" if http_status is not None else ""
        excerpt = f": {body_excerpt!r}" if body_excerpt else ""
        super().__init__(f"{message}{detail}{excerpt}")


class TaqnyatTransientError(TaqnyatError):
    """
    The request provably was not processed (refused connection, 429, 503) and retries ran out.

    Safe for an Airflow retry: nothing reached anybody.
    """

    def __init__(self, message: str, *, http_status: int | None = None):
        self.http_status = http_status
        super().__init__(message)


class TaqnyatDeliveryUnknownError(TaqnyatError, AirflowFailException):
    """
    A send may have reached Taqnyat, but its outcome is unknown.

    Raised on a read timeout, a 500/502/504, a dropped connection or a 2xx body that cannot be
    understood after a POST. It is never retried: a second send could call or text people twice.
    """

    def __init__(self, message: str, *, http_status: int | None = None):
        self.http_status = http_status
        super().__init__(
            f"Delivery unknown: {message}. The request may have been processed; it is not re-sent "
            "automatically. Check the Taqnyat account's archive before sending again."
        )


class IncompleteDeliveryError(TaqnyatError, AirflowFailException):
    """
    A multi-batch send failed after at least one batch was delivered.

    Never retried by Airflow: a retry would reach the delivered numbers again. The message lists who
    was reached (called or texted), who may have been (the batch whose outcome is unknown) and who was not.
    """

    def __init__(
        self,
        *,
        reached: Sequence[str],
        maybe_reached: Sequence[str],
        not_reached: Sequence[str],
        failed_batch: int,
        total_batches: int,
        cause: BaseException,
        partial_result: dict | None = None,
    ):
        self.reached = list(reached)
        self.maybe_reached = list(maybe_reached)
        self.not_reached = list(not_reached)
        self.cause = cause
        self.partial_result = partial_result or {}
        super().__init__(
            f"Batch {failed_batch} of {total_batches} failed after earlier batches were delivered; "
            f"the task is not retried so that nobody is reached twice. Cause: {cause}. "
            f"Reached ({len(self.reached)}): {', '.join(self.reached)}. "
            f"Maybe reached ({len(self.maybe_reached)}): {', '.join(self.maybe_reached) or '-'}. "
            f"Not reached ({len(self.not_reached)}): {', '.join(self.not_reached) or '-'}."
        )


class TaqnyatApiError(TaqnyatError, AirflowFailException):
    """Taqnyat answered with an error code. Permanent: the task fails without Airflow retries."""

    def __init__(
        self,
        code: int | None,
        message_en: str | None = None,
        message_ar: str | None = None,
        *,
        http_status: int | None = None,
    ):
        known = error_codes.CATALOG.get(code) if code is not None else None
        self.code = code
        self.message_en = message_en or (known.message_en if known else None)
        self.message_ar = message_ar or (known.message_ar if known else None)
        self.http_status = http_status
        self.remedy = known.remedy if known else None
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"Taqnyat error {self.code}" if self.code is not None else "Taqnyat error"]
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        text = " / ".join(m for m in (self.message_en, self.message_ar) if m)
        described = " ".join(parts) + (f": {text}" if text else "")
        return f"{described}. {self.remedy}" if self.remedy else described


class TaqnyatBalanceEmptyError(TaqnyatApiError):
    """Error 2: the balance is 0."""


class TaqnyatInsufficientBalanceError(TaqnyatApiError):
    """Error 3: the balance does not cover the send."""


class TaqnyatInvalidCallerIdError(TaqnyatApiError):
    """Error 14: the caller ID is not valid."""


class TaqnyatInvalidRecipientsApiError(TaqnyatApiError):
    """Error 15: the API found the recipients missing or incorrect."""


class TaqnyatAudioFileError(TaqnyatApiError):
    """Error 17: the message or the audio file is wrong."""


class TaqnyatApiSendingDisabledError(TaqnyatApiError):
    """Error 101: sending through the API is disabled for the account."""


class TaqnyatIpNotAuthorizedError(TaqnyatApiError):
    """Error 102: the caller's IP address is not allowed to use the API."""


class TaqnyatInvalidTokenError(TaqnyatApiError):
    """Error 104 or HTTP 401: the Bearer token is invalid."""


class TaqnyatMethodNotAllowedError(TaqnyatApiError):
    """HTTP 405: the endpoint does not accept this HTTP method."""


class TaqnyatRecipientsRejectedError(TaqnyatError, AirflowFailException):
    """With ``fail_on_rejected``: the API rejected some numbers; the others were sent to and are not retried."""

    def __init__(self, rejected: Sequence[str]):
        self.rejected = list(rejected)
        super().__init__(
            f"Taqnyat rejected {len(self.rejected)} number(s): {', '.join(self.rejected)}. The accepted "
            "numbers were sent to; the task is not retried so that nobody receives it twice."
        )


class TaqnyatBelowMinimumBalanceError(TaqnyatError, AirflowFailException):
    """The account balance is below the task's ``min_balance``; nothing was sent."""


API_ERRORS_BY_CODE: dict[int, type[TaqnyatApiError]] = {
    error_codes.BALANCE_EMPTY: TaqnyatBalanceEmptyError,
    error_codes.BALANCE_NOT_ENOUGH: TaqnyatInsufficientBalanceError,
    error_codes.INVALID_CALLER_ID: TaqnyatInvalidCallerIdError,
    error_codes.INVALID_RECIPIENTS: TaqnyatInvalidRecipientsApiError,
    error_codes.AUDIO_FILE_ERROR: TaqnyatAudioFileError,
    error_codes.API_SENDING_DISABLED: TaqnyatApiSendingDisabledError,
    error_codes.IP_NOT_AUTHORIZED: TaqnyatIpNotAuthorizedError,
    error_codes.INVALID_TOKEN: TaqnyatInvalidTokenError,
}


def api_error(
    code: int | None,
    message_en: str | None = None,
    message_ar: str | None = None,
    *,
    http_status: int | None = None,
) -> TaqnyatApiError:
    """Build the most specific error for a code: the documented subclass, or the base class."""
    if http_status == 401 and code is None:
        code = error_codes.INVALID_TOKEN
    if http_status == error_codes.METHOD_NOT_ALLOWED_HTTP_STATUS and code is None:
        return TaqnyatMethodNotAllowedError(None, message_en or "Method Not Allowed", http_status=405)
    error_class = API_ERRORS_BY_CODE.get(code, TaqnyatApiError) if code is not None else TaqnyatApiError
    return error_class(code, message_en, message_ar, http_status=http_status)
