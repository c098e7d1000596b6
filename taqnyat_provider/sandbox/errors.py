"""
The error answers the sandbox gives, copied from the Taqnyat API reference and nothing else.

The sandbox stands in for the real service, so it must not borrow the client's table
(``taqnyat_provider.core.error_codes``): a wrong code or text there would then be answered back by the
sandbox and every test against it would agree with the mistake. ``tests/sandbox/test_independence.py``
checks that the two tables, written apart, say the same thing.

``message_en`` and ``message_ar`` are the ``MessageEn`` / ``MessageAr`` of the reference's example
answers (without the stray spaces around code 102's texts); ``description`` is the reference's
"Voice Error codes" table. Every code comes with HTTP 400 ("if the header returned 400, lookup the
code") except a wrong token, which the reference answers with 401 ("If you failed to authenticate
the request, response header with error 401").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxError:
    code: int
    message_en: str
    message_ar: str
    description: str
    http_status: int = 400


BALANCE_EMPTY = 2
BALANCE_NOT_ENOUGH = 3
INVALID_CALLER_ID = 14
INVALID_RECIPIENTS = 15
AUDIO_FILE_ERROR = 17
API_SENDING_DISABLED = 101
IP_NOT_AUTHORIZED = 102
INVALID_TOKEN = 104

ERRORS: dict[int, SandboxError] = {
    error.code: error
    for error in (
        SandboxError(
            BALANCE_EMPTY,
            "Your balance is 0",
            "الرصيد = 0",
            "Your balance has been consumed and you need to top up your account to restore the "
            "ability to send Voice again.",
        ),
        SandboxError(
            BALANCE_NOT_ENOUGH,
            "Your balance is not enough",
            "الرصيد غير كافي",
            "Your account has a low balance and does not cover all Voices you are about to send.",
        ),
        SandboxError(
            INVALID_CALLER_ID,
            "Invalid CallerId",
            "هوية المتصل غير صحيحة",
            "Sender phone used is not correct, make sure to include the sender phone as "
            "international format without 00 or symbol (+)",
        ),
        SandboxError(
            INVALID_RECIPIENTS,
            "Mobile(s) number(s) is not specified or incorrect",
            "الأرقام المرسل لها غير صحيحة أو فارغة",
            "Resivers phones used is not correct, make sure to include the Resivers phones as "
            "Array of international format without 00 or symbol (+)",
        ),
        SandboxError(
            AUDIO_FILE_ERROR,
            "error msg or error audio file",
            "يوجد خطأ في الارسال او الملف الصوتي",
            "your audio file is not correct, make sure to include the correct path and the correct file type",
        ),
        SandboxError(
            API_SENDING_DISABLED,
            "sending by API is disabled",
            "الارسال باستخدام بوابات الارسال معطل",
            "the functionality or capability to send data or requests through an API has been "
            "deactivated or turned off",
        ),
        SandboxError(
            IP_NOT_AUTHORIZED,
            "this ip Not authorized to using the API",
            "هذا الاي بي غير مصرح له",
            "the IP address from which you are attempting to access an API service is not granted "
            "permission or authorization to do so.",
        ),
        SandboxError(
            INVALID_TOKEN,
            "Invalid Bearer Tokens",
            "مفتاح الارسال غير صحيح",
            "the API key you are using to authenticate or authorize your access to the API service "
            "is either missing, incorrect, expired, or revoked.",
            http_status=401,
        ),
    )
}
