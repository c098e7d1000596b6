"""
The error codes Taqnyat documents, with their texts and what to do about each.

Pure data: the exceptions build their messages from it and the sandbox answers with it, so both
speak exactly as the API reference does. ``message_en`` and ``message_ar`` are the API's own words;
``remedy`` is ours, one English sentence that names fields as the connection form labels them, short
enough for the UI's Test toast.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    code: int
    message_en: str
    message_ar: str
    remedy: str
    http_status: int = 400


BALANCE_EMPTY = 2
BALANCE_NOT_ENOUGH = 3
INVALID_CALLER_ID = 14
INVALID_RECIPIENTS = 15
AUDIO_FILE_ERROR = 17
API_SENDING_DISABLED = 101
IP_NOT_AUTHORIZED = 102
INVALID_TOKEN = 104

CATALOG: dict[int, ErrorCode] = {
    entry.code: entry
    for entry in (
        ErrorCode(
            BALANCE_EMPTY,
            "Your balance is 0",
            "الرصيد = 0",
            "The balance is used up: top up the Taqnyat account to send again.",
        ),
        ErrorCode(
            BALANCE_NOT_ENOUGH,
            "Your balance is not enough",
            "الرصيد غير كافي",
            "The balance does not cover this send: top up the Taqnyat account or send to fewer numbers.",
        ),
        ErrorCode(
            INVALID_CALLER_ID,
            "Invalid CallerId",
            "هوية المتصل غير صحيحة",
            "Give the caller ID (the connection's Default caller ID, or the operator's caller_id) "
            "in international format without 00 or +, e.g. 966500000000.",
        ),
        ErrorCode(
            INVALID_RECIPIENTS,
            "Mobile(s) number(s) is not specified or incorrect",
            "الأرقام المرسل لها غير صحيحة أو فارغة",
            "Give the recipients as international numbers without 00 or +, e.g. 966500000000.",
        ),
        ErrorCode(
            AUDIO_FILE_ERROR,
            "error msg or error audio file",
            "يوجد خطأ في الارسال او الملف الصوتي",
            "Check that audio_url is the full public URL of an audio file of a supported type.",
        ),
        ErrorCode(
            API_SENDING_DISABLED,
            "sending by API is disabled",
            "الارسال باستخدام بوابات الارسال معطل",
            "Enable sending through the API in the Taqnyat account's API settings.",
        ),
        ErrorCode(
            IP_NOT_AUTHORIZED,
            "this ip Not authorized to using the API",
            "هذا الاي بي غير مصرح له",
            "Allow this worker's public IP address in the Taqnyat account's API settings.",
        ),
        ErrorCode(
            INVALID_TOKEN,
            "Invalid Bearer Tokens",
            "مفتاح الارسال غير صحيح",
            "Put a valid token in the connection's Bearer token field (Taqnyat: Developer > "
            "Application): this one is missing, wrong, expired or revoked.",
            http_status=401,
        ),
    )
}

METHOD_NOT_ALLOWED_HTTP_STATUS = 405
