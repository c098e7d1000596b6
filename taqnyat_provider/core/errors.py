"""
Errors raised by the Taqnyat provider: plain Python exceptions, importable without Airflow.

Every error says whether another try may cure it (``retryable``). Errors that another try cannot
cure, or whose retry could call somebody twice, are not retryable; the operators and the status
sensor turn them into Airflow's fail-without-retry at their boundary
(:mod:`taqnyat_provider.airflow_errors`), so the pure core never imports Airflow.
Users import them from :mod:`taqnyat_provider.exceptions`, their public home. The notifiers
let them propagate as they are: Airflow logs a failing callback and never retries it, so there is
no retry to allow or forbid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taqnyat_provider.core import error_codes

__all__ = [
    "API_ERRORS_BY_CODE",
    "SAMPLE_SIZE",
    "DeliveryInterruptedError",
    "FirstBatchUnknownError",
    "IncompleteDeliveryError",
    "InvalidInputError",
    "InvalidRecipientsError",
    "LedgerMismatchError",
    "LedgerUnavailableError",
    "TaqnyatApiError",
    "TaqnyatApiSendingDisabledError",
    "TaqnyatAudioCheckError",
    "TaqnyatAudioFileError",
    "TaqnyatAudioHostRefusedError",
    "TaqnyatAudioUnavailableError",
    "TaqnyatBalanceEmptyError",
    "TaqnyatBelowMinimumBalanceError",
    "TaqnyatConfigurationError",
    "TaqnyatDeliveryUnknownError",
    "TaqnyatError",
    "TaqnyatInsufficientBalanceError",
    "TaqnyatInvalidAudioError",
    "TaqnyatInvalidCallerIdError",
    "TaqnyatInvalidRecipientsApiError",
    "TaqnyatInvalidTokenError",
    "TaqnyatIpNotAuthorizedError",
    "TaqnyatMethodNotAllowedError",
    "TaqnyatRecipientsRejectedError",
    "TaqnyatResponseError",
    "TaqnyatTransientError",
    "TooManyRecipientsError",
    "UnresolvedDeliveryError",
    "api_error",
    "sample",
]

SAMPLE_SIZE = 5
"""How many phone numbers an error message or a log line shows; the full lists go to XCom."""


def sample(numbers: Sequence[str]) -> str:
    """``n`` numbers as a count and a short sample: logs and messages carry no full lists."""
    if not numbers:
        return "-"
    shown = ", ".join(numbers[:SAMPLE_SIZE])
    return shown if len(numbers) <= SAMPLE_SIZE else f"{shown}, … ({len(numbers) - SAMPLE_SIZE} more)"


class TaqnyatError(Exception):
    """Base class of every error this provider raises."""

    retryable = False
    """Whether an Airflow retry may cure it without reaching anybody twice."""


class TaqnyatConfigurationError(TaqnyatError):
    """The connection or the task's arguments are wrong; nothing was sent."""


class InvalidInputError(TaqnyatConfigurationError, ValueError):
    """A task argument is invalid; raised before any request is made."""


class InvalidRecipientsError(InvalidInputError):
    """One or more recipients are not valid phone numbers; none was sent."""

    def __init__(self, problems: Sequence[tuple[object, str]]):
        self.problems = list(problems)
        self.invalid = [entry for entry, _ in self.problems]
        super().__init__(f"Invalid recipients, nothing was sent: {_sample_problems(self.problems)}")


class TooManyRecipientsError(InvalidInputError):
    """
    A send has more recipients (after normalization) than the task's ``max_recipients``; nothing was sent.

    Not retryable: another try would render the same list. ``count`` and ``cap`` are the numbers.
    """

    def __init__(self, count: int, cap: int):
        self.count = count
        self.cap = cap
        super().__init__(
            f"This send has {count} recipients, more than max_recipients ({cap}); nothing was sent. "
            "Check the list given to the task (a runaway upstream task?), or raise max_recipients "
            "if the list is right"
        )


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sample_problems(problems: list[tuple[object, str]]) -> str:
    """
    A count, the first few bad entries with their reasons, and how often each reason came up: a
    forgotten ``default_region`` over 100,000 numbers reads in a line (the full list is ``problems``).
    Entries and reasons are clipped: one 10 MB "number" does not make a 10 MB message either.
    """
    shown = "; ".join(f"{_clip(repr(entry))}: {_clip(reason)}" for entry, reason in problems[:SAMPLE_SIZE])
    if len(problems) <= SAMPLE_SIZE:
        return shown
    counts: dict[str, int] = {}
    for _, reason in problems:
        counts[reason] = counts.get(reason, 0) + 1
    common = sorted(counts.items(), key=lambda item: -item[1])[:3]
    reasons = "; ".join(f"{count} × {_clip(reason)}" for reason, count in common)
    others = f"; {len(counts) - 3} other reasons" if len(counts) > 3 else ""
    return f"{len(problems)} invalid, the first {SAMPLE_SIZE}: {shown}; … by reason: {reasons}{others}"


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

    retryable = True

    def __init__(self, message: str, *, http_status: int | None = None):
        self.http_status = http_status
        super().__init__(message)


class TaqnyatDeliveryUnknownError(TaqnyatError):
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


class IncompleteDeliveryError(TaqnyatError):
    """
    A multi-batch send failed for good after at least one batch was delivered.

    Not retryable: the cause cannot be cured by another try (an API error code) or the outcome of a
    batch is unknown. The message counts who was reached (called or texted), who may have been (a
    batch whose outcome is unknown) and who was not, with a short sample of each; the full lists are
    in ``partial_result`` (the operators push it to XCom as ``partial_delivery``).
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
        headline: str | None = None,
    ):
        self.reached = list(reached)
        self.maybe_reached = list(maybe_reached)
        self.not_reached = list(not_reached)
        self.failed_batch = failed_batch
        self.total_batches = total_batches
        self.cause = cause
        self.partial_result = partial_result or {}
        headline = headline or (
            f"Batch {failed_batch} of {total_batches} failed after earlier batches were delivered; "
            "the task is not retried so that nobody is reached twice"
        )
        super().__init__(
            f"{headline}. Cause: {cause}. "
            f"Reached ({len(self.reached)}): {sample(self.reached)}. "
            f"Maybe reached ({len(self.maybe_reached)}): {sample(self.maybe_reached)}. "
            f"Not reached ({len(self.not_reached)}): {sample(self.not_reached)}."
        )


class DeliveryInterruptedError(IncompleteDeliveryError):
    """
    A send stopped at a batch that provably was not processed (429, 503, refused connection).

    Retryable: the send ledger knows which batches were delivered, so the next try resumes at the
    interrupted batch and nobody is reached twice.
    """

    retryable = True

    def __init__(self, **kwargs: object):
        failed, total = kwargs["failed_batch"], kwargs["total_batches"]
        super().__init__(
            headline=(
                f"Batch {failed} of {total} was not processed (a temporary failure); the next try "
                f"resumes at batch {failed} from the send ledger"
            ),
            **kwargs,  # type: ignore[arg-type]
        )


class FirstBatchUnknownError(IncompleteDeliveryError, TaqnyatDeliveryUnknownError):
    """
    The first batch a try sent has an unknown outcome, and nothing was delivered before it.

    Both a :class:`TaqnyatDeliveryUnknownError` (what happened to the batch) and an
    :class:`IncompleteDeliveryError` (who may have been reached, who was never sent to, and the
    ``partial_delivery`` XCom), so a person knows whom to check for, and whom nobody called.
    """

    def __init__(self, **kwargs: Any):
        failed, total = kwargs["failed_batch"], kwargs["total_batches"]
        # IncompleteDeliveryError's message goes on to TaqnyatDeliveryUnknownError, which frames it.
        IncompleteDeliveryError.__init__(
            self,
            headline=f"batch {failed} of {total} may have been processed (its answer was lost), and the "
            "batches after it were not sent",
            **kwargs,
        )
        self.http_status = getattr(kwargs["cause"], "http_status", None)


class UnresolvedDeliveryError(TaqnyatDeliveryUnknownError):
    """
    An earlier try left batches whose outcome is unknown (killed, timed out, dropped mid-send).

    They are not re-sent automatically. ``maybe_reached`` lists who may have been called or texted;
    the task's ``on_unknown`` says what to do with them on a later try (``"skip"`` or ``"resend"``).
    """

    def __init__(
        self,
        *,
        maybe_reached: Sequence[str],
        batches: Sequence[int],
        total_batches: int,
        key: str,
        where: str = "",
    ):
        self.maybe_reached = list(maybe_reached)
        self.batches = list(batches)
        self.ledger_key = key
        TaqnyatError.__init__(
            self,
            f"Delivery unknown: batch(es) {', '.join(map(str, self.batches))} of {total_batches} were in "
            "flight when an earlier try ended (worker killed, timeout or a dropped answer), so they are not "
            f"re-sent. Maybe reached ({len(self.maybe_reached)}): {sample(self.maybe_reached)}. Check the "
            "Taqnyat account's archive, then either mark each such batch 'delivered' or 'not_sent' in the "
            f"send ledger ({key!r}.batch.NNNNN{', ' + where if where else ''}) and clear the task, or "
            "re-run with on_unknown='skip' (count them as reached) or 'resend' (send them again).",
        )


class LedgerMismatchError(TaqnyatConfigurationError):
    """A later try rendered other recipients or another message than the send ledger recorded."""


class LedgerUnavailableError(TaqnyatError):
    """
    The send ledger could not be read or written, so the batch was not sent.

    Retryable: without a durable record of a send, sending could call people twice after a crash.
    """

    retryable = True


class TaqnyatApiError(TaqnyatError):
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
        """English, Arabic and the remedy as separate sentences, so no text is cut mid-sentence."""
        parts = [f"Taqnyat error {self.code}" if self.code is not None else "Taqnyat error"]
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        sentences = [
            m.strip().rstrip(".") + "." for m in (self.message_en, self.message_ar) if m and m.strip()
        ]
        if self.remedy:
            sentences.append(self.remedy)
        headline = " ".join(parts)
        return f"{headline}: {' '.join(sentences)}" if sentences else headline


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


class TaqnyatRecipientsRejectedError(TaqnyatError):
    """With ``fail_on_rejected``: the API rejected some numbers; the others were sent to and are not retried."""

    def __init__(self, rejected: Sequence[str]):
        self.rejected = list(rejected)
        super().__init__(
            f"Taqnyat rejected {len(self.rejected)} number(s): {sample(self.rejected)}. The accepted "
            "numbers were sent to; the task is not retried so that nobody receives it twice."
        )


class TaqnyatBelowMinimumBalanceError(TaqnyatError):
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


class TaqnyatAudioCheckError(TaqnyatError):
    """
    The audio preflight found the voice call's ``audio_url`` unusable; nobody was called.

    ``url`` is the checked URL without its query (a signed URL's signature stays out of logs).
    """

    def __init__(self, message: str, *, url: str, http_status: int | None = None):
        self.url = url
        self.http_status = http_status
        super().__init__(
            f"Audio check of {url} failed: {message}. Nobody was called. Fix the audio file, or pass "
            "check_audio=False if the worker cannot reach the audio host but Taqnyat can"
        )


class TaqnyatAudioUnavailableError(TaqnyatAudioCheckError):
    """The audio host did not answer in time, refused the connection, or answered 5xx/429: may pass later."""

    retryable = True


class TaqnyatInvalidAudioError(TaqnyatAudioCheckError):
    """The audio URL answers 404 (or 401/403), an HTML page, an empty file, or redirects to another host."""


class TaqnyatAudioHostRefusedError(TaqnyatInvalidAudioError):
    """
    The audio URL's host is, or resolves to, a loopback, private, link-local, multicast or reserved
    address: the check refuses it before connecting (Taqnyat's servers could not fetch it either).
    """


# Tracebacks, log lines, pickles and the docs name the errors by their public home, where users
# import and catch them (``taqnyat_provider.exceptions.TaqnyatApiError``), as they did in 0.2.0.
for _public in __all__:
    if isinstance(globals()[_public], type):
        globals()[_public].__module__ = "taqnyat_provider.exceptions"
del _public
