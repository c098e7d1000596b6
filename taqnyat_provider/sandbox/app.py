"""
The sandbox's HTTP server: Taqnyat's endpoints with the reference's shapes and status codes.

It answers as the API reference says the real service does (loose JSON shapes included: numbers
as strings, ``"Error": "null"``, ``rejectedNumber`` as a string), checks the Bearer token, validates
like the real service, keeps a balance, records every request with the token redacted, and plays
the faults it was told to. Admin endpoints under ``/_sandbox/`` steer it over HTTP, for a client
on this machine only (see :func:`_admin_refusal`); the audio files under ``/_sandbox/audio/`` are
served to anyone, as a CDN would.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TextIO
from urllib.parse import urlsplit

from aiohttp import web

from taqnyat_provider.sandbox import errors
from taqnyat_provider.sandbox.audio import AUDIO_PREFIX
from taqnyat_provider.sandbox.loopback import is_loopback_host
from taqnyat_provider.sandbox.segments import count_parts
from taqnyat_provider.sandbox.state import (
    RATE_LIMIT_FAULT,
    SMS_PRICE_PER_PART,
    VOICE_PRICE_PER_CALL,
    Fault,
    RecordedRequest,
    SandboxState,
)

STATE_KEY = web.AppKey("taqnyat_sandbox_state", SandboxState)
CONSOLE_KEY = web.AppKey("taqnyat_sandbox_console", object)

_INTERNATIONAL = re.compile(r"[1-9][0-9]{7,14}")
_SCHEDULE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_AUDIO_EXTENSIONS = (".mp3", ".wav", ".ogg", ".m4a", ".gsm", ".aac", ".amr")
_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} {reason}</title></head>"
    "<body><h1>{status} {reason}</h1><p>nginx</p></body></html>"
)

Handler = Callable[[web.Request, RecordedRequest], Awaitable[web.StreamResponse]]


def _json(payload: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False), status=status, content_type="application/json"
    )


def voice_error(code: int) -> web.Response:
    """The reference's error envelope: ``"status": 1`` even on failure, ``Data`` null."""
    entry = errors.ERRORS[code]
    return _json(
        {
            "status": 1,
            "ResponseStatus": "fail",
            "Data": None,
            "Error": {"ErrorCode": code, "MessageAr": entry.message_ar, "MessageEn": entry.message_en},
        },
        entry.http_status,
    )


def sms_error(http_status: int, message: str) -> web.Response:
    return _json({"statusCode": http_status, "message": message}, http_status)


def _unauthorized() -> web.Response:
    return sms_error(401, "invalid credentials information")


def rate_limited(wait_seconds: float) -> web.Response:
    """A gateway's 429: ``Retry-After`` in whole seconds, rounded up so that waiting it is enough."""
    return web.Response(
        text=json.dumps({"statusCode": 429, "message": "Too Many Requests: API rate limit exceeded"}),
        status=429,
        content_type="application/json",
        headers={"Retry-After": str(max(1, math.ceil(wait_seconds)))},
    )


def _trailing_comma_list(numbers: list[str]) -> str:
    """The SMS API's way of writing a list: ``"[966500000000,]"``."""
    return "[" + "".join(f"{number}," for number in numbers) + "]"


def _auth_state(request: web.Request, token: str) -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        return "missing"
    scheme, _, value = header.partition(" ")
    return "ok" if scheme.lower() == "bearer" and value.strip() == token else "invalid"


def _redacted_headers(request: web.Request) -> dict[str, str]:
    return {
        name: ("Bearer <redacted>" if name.lower() == "authorization" else value)
        for name, value in request.headers.items()
    }


def _client_port(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None


async def _read_body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    raw = await request.text()
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        return {key: form.getall(key) if len(form.getall(key)) > 1 else form[key] for key in form}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _number_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    if isinstance(value, list):
        return [str(item).strip() for item in value]
    return []


def _accept_and_charge(
    state: SandboxState, record: RecordedRequest, recipients_field: Any, price_per_recipient: Decimal
) -> tuple[list[str], list[str], Decimal, int] | web.Response:
    """
    Split a send's recipients into accepted and rejected and charge for the accepted ones.

    Returns ``(accepted, rejected, cost, message_id)``, or the error answer (code 15, 2 or 3).
    """
    recipients = _number_list(recipients_field)
    well_formed = [number for number in recipients if _INTERNATIONAL.fullmatch(number)]
    if not well_formed:
        return voice_error(errors.INVALID_RECIPIENTS)
    accepted = [number for number in well_formed if number not in state.unreachable]
    rejected = [number for number in recipients if number not in accepted]
    cost = price_per_recipient * len(accepted)
    shortfall = state.charge(cost)
    if shortfall:
        return voice_error(errors.BALANCE_EMPTY if shortfall == "empty" else errors.BALANCE_NOT_ENOUGH)
    record.processed = True
    return accepted, rejected, cost, state.next_message_id()


# --------------------------------------------------------------------------------------------------
# Endpoints


async def system_status(request: web.Request, record: RecordedRequest) -> web.Response:
    state = request.app[STATE_KEY]
    return _json(
        {
            "statusCode": 200,
            "status": {"service": state.status_service, "description": state.status_description},
        },
        200,
    )


async def account_balance(request: web.Request, record: RecordedRequest) -> web.Response:
    state = request.app[STATE_KEY]
    if record.auth != "ok":
        return _unauthorized()
    return _json(
        {
            "statusCode": 200,
            "accountStatus": "active",
            "accountExpiryDate": "31-12-2030",
            "balance": f"{state.balance:.3f}",
            "currency": "SAR",
        },
        200,
    )


async def voice_send(request: web.Request, record: RecordedRequest) -> web.Response:
    state = request.app[STATE_KEY]
    if record.auth != "ok":
        return voice_error(errors.INVALID_TOKEN)
    body = record.body if isinstance(record.body, dict) else {}
    caller_id = str(body.get("callerId", "")).strip()
    if not _INTERNATIONAL.fullmatch(caller_id):
        return voice_error(errors.INVALID_CALLER_ID)
    audio_url = str(body.get("audioUrl", "")).strip()
    parts = urlsplit(audio_url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or not parts.path.lower().endswith(_AUDIO_EXTENSIONS)
    ):
        return voice_error(errors.AUDIO_FILE_ERROR)
    billed = _accept_and_charge(state, record, body.get("recipients"), VOICE_PRICE_PER_CALL)
    if isinstance(billed, web.Response):
        return billed
    accepted, rejected, price, message_id = billed
    state.calls.append(
        {"message_id": message_id, "caller_id": caller_id, "audio_url": audio_url, "accepted": accepted}
    )
    return _json(
        {
            "status": 1,
            "ResponseStatus": "success",
            "messageId": message_id,
            "Data": {
                "msgId": f"V-{message_id}",
                "result": "1",
                "MessageAr": "تم الارسال",
                "MessageEn": "sent successfully",
                "duration": 3,
                "dtmfTimeout": "0",
                "connectionFee": 3,
                "price": f"{price:.3f}",
                "rejectedNumber": "[" + ",".join(rejected) + "]",
                "Error": "null",
            },
        },
        201,
    )


async def sms_send(request: web.Request, record: RecordedRequest) -> web.Response:
    state = request.app[STATE_KEY]
    if record.auth != "ok":
        return _unauthorized()
    payload = record.body if isinstance(record.body, dict) else {}
    sender = str(payload.get("sender") or "").strip()
    active = {entry.get("senderName") for entry in state.senders if entry.get("status") == "active"}
    if sender not in active:
        return sms_error(400, f"sender name '{sender}' is not an active sender of this account")
    text = payload.get("body")
    if not isinstance(text, str) or not text.strip():
        return sms_error(400, "The body field is required.")
    scheduled_at = payload.get("scheduledDatetime")
    if scheduled_at is not None and not (isinstance(scheduled_at, str) and _SCHEDULE.fullmatch(scheduled_at)):
        return sms_error(400, "scheduledDatetime must look like 2020-09-30T14:26")
    delete_id = payload.get("deleteId")
    if delete_id is not None and not str(delete_id).isdigit():
        return sms_error(400, "deleteId must be a number")
    _, _, parts = count_parts(text)
    billed = _accept_and_charge(state, record, payload.get("recipients"), SMS_PRICE_PER_PART * parts)
    if isinstance(billed, web.Response):
        return billed
    accepted, rejected, cost, message_id = billed
    recipients = accepted + rejected
    state.messages.append(
        {
            "message_id": message_id,
            "sender": sender,
            "body": text,
            "accepted": accepted,
            "scheduled_at": scheduled_at,
            "delete_id": delete_id,
            "cost": str(cost),
            "cancelled": False,
        }
    )
    return _json(
        {
            "statusCode": 201,
            "messageId": message_id,
            "cost": float(cost),
            "currency": "SAR",
            "totalCount": len(recipients),
            "msgLength": parts,
            "accepted": _trailing_comma_list(accepted),
            "rejected": _trailing_comma_list(rejected),
        },
        201,
    )


async def sms_senders(request: web.Request, record: RecordedRequest) -> web.Response:
    if record.auth != "ok":
        return _unauthorized()
    return _json({"statusCode": 200, "senders": request.app[STATE_KEY].senders}, 200)


async def sms_delete(request: web.Request, record: RecordedRequest) -> web.Response:
    if record.auth != "ok":
        return _unauthorized()
    delete_id = request.query.get("deleteId", "").strip()
    if not delete_id.isdigit():
        return sms_error(400, "deleteId is required")
    if not request.app[STATE_KEY].cancel_scheduled(delete_id):
        return sms_error(404, f"no scheduled message with deleteId {delete_id}")
    record.processed = True
    return _json({"statusCode": 201, "message": "Deleted successfully"}, 201)


async def _not_found(request: web.Request, record: RecordedRequest) -> web.Response:
    return _json({"statusCode": 404, "message": "Not Found"}, 404)


async def _method_not_allowed(request: web.Request, record: RecordedRequest) -> web.Response:
    return _json({"statusCode": 405, "message": "Method Not Allowed"}, 405)


ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/system/status"): ("status", system_status),
    ("POST", "/voiceSend.php"): ("voice", voice_send),
    ("GET", "/account/balance"): ("balance", account_balance),
    ("POST", "/v1/messages"): ("sms", sms_send),
    ("GET", "/v1/messages/senders"): ("senders", sms_senders),
    ("DELETE", "/v1/messages/delete"): ("delete", sms_delete),
}


# --------------------------------------------------------------------------------------------------
# Faults and dispatch


async def _play_fault(
    fault: Fault, request: web.Request, record: RecordedRequest, handler: Handler
) -> web.StreamResponse | None:
    """Answer as the fault says; None means the normal handler's answer stands."""
    if fault.error_code is not None:
        code = fault.error_code
        if code in errors.ERRORS:
            return voice_error(code)
        return _json({"status": 1, "ResponseStatus": "fail", "Data": None, "Error": {"ErrorCode": code}}, 400)
    if fault.kind == "degraded":
        return _json(
            {"statusCode": 200, "status": {"service": "voice", "description": "Voice service is degraded"}},
            200,
        )
    if fault.kind in ("429", "503"):
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        reason = "Too Many Requests" if fault.kind == "429" else "Service Unavailable"
        return web.Response(
            text=_HTML_PAGE.format(status=fault.kind, reason=reason),
            status=int(fault.kind),
            content_type="text/html",
            headers=headers,
        )
    # What is left plays after the work was done, as when an answer is lost on its way back.
    normal = await handler(request, record)
    if fault.kind in ("500", "502", "504"):
        reasons = {"500": "Internal Server Error", "502": "Bad Gateway", "504": "Gateway Timeout"}
        return web.Response(
            text=_HTML_PAGE.format(status=fault.kind, reason=reasons[fault.kind]),
            status=int(fault.kind),
            content_type="text/html",
        )
    if fault.kind == "drop":
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    if fault.kind == "hang":
        await asyncio.sleep(fault.seconds)
        return normal
    if fault.kind == "garbage":
        return web.Response(text="ok<br>queued?? {{", status=200, content_type="text/plain")
    if fault.kind == "empty":
        return web.Response(body=b"", status=201, content_type="application/json")
    if fault.kind == "long":
        return _padded(normal, fault.size, fault.filler)
    if fault.kind == "whitespace":
        return web.Response(
            body=_repeat(fault.filler, fault.size).encode(),
            status=normal.status,
            content_type="application/json",
        )
    if fault.kind == "non_utf8":
        return _reencoded(normal, fault.encoding)
    return None


_NOTE_AR = "رد من الخادم القديم (réponse)"
"""Arabic (and one Latin-1 letter) that no single-byte encoding writes as valid UTF-8."""


def _repeat(filler: str, size: int) -> str:
    return (filler * (size // len(filler) + 1))[:size]


def _normal_text(normal: web.StreamResponse) -> str:
    body = normal.body if isinstance(normal, web.Response) else None
    return bytes(body).decode() if isinstance(body, (bytes, bytearray)) else ""


def _padded(normal: web.StreamResponse, size: int, filler: str) -> web.Response:
    """The same JSON, ``size`` bytes long: the padding goes right after the first ``{``."""
    text = _normal_text(normal)
    padding = _repeat(filler, max(size - len(text.encode()), 0))
    at = text.find("{") + 1
    return web.Response(
        text=text[:at] + padding + text[at:], status=normal.status, content_type="application/json"
    )


def _reencoded(normal: web.StreamResponse, encoding: str) -> web.Response:
    try:
        payload = json.loads(_normal_text(normal))
    except ValueError:
        payload = None
    document = {"Note": _NOTE_AR, **payload} if isinstance(payload, dict) else {"Note": _NOTE_AR}
    body = json.dumps(document, ensure_ascii=False).encode(encoding, errors="replace")
    return web.Response(body=body, status=normal.status, content_type="application/json")


def _console_line(record: RecordedRequest) -> str:
    detail = ""
    if record.endpoint in ("voice", "sms") and isinstance(record.body, dict):
        detail = f" recipients={len(_number_list(record.body.get('recipients')))}"
    fault = f" fault={record.fault}" if record.fault else ""
    return f"[taqnyat-sandbox] {record.method} {record.path} -> {record.status} auth={record.auth}{detail}{fault}"


def _admin_refusal(request: web.Request) -> web.Response | None:
    """
    Why an admin request is refused, or None. The admin endpoints read recorded phone numbers and
    inject faults, so they answer only a client that shows it is on this machine and holds the
    token: a loopback ``Host`` (a web page that rebinds its own name to 127.0.0.1 still sends its
    name), the Bearer token (a page cannot add it to a cross-site request), and a JSON body for a
    POST (a cross-site form can post ``text/plain``, never ``application/json`` without asking).
    """
    host = request.headers.get("Host", "")
    hostname = urlsplit(f"//{host}").hostname if host else None
    if not is_loopback_host(hostname):
        return _json(
            {"error": "admin endpoints answer a loopback Host only (localhost, 127.0.0.1, [::1])"}, 403
        )
    if _auth_state(request, request.app[STATE_KEY].token) != "ok":
        return _json({"error": "admin endpoints need the sandbox token (Authorization: Bearer ...)"}, 401)
    if request.method not in ("GET", "HEAD") and request.content_type != "application/json":
        return _json({"error": "admin endpoints take a JSON body (Content-Type: application/json)"}, 415)
    return None


@web.middleware
async def _api(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith("/_sandbox/"):
        refusal = None if request.path.startswith(AUDIO_PREFIX) else _admin_refusal(request)
        return refusal or await handler(request)
    state = request.app[STATE_KEY]
    path = request.path.rstrip("/") or "/"
    allowed = {method for (method, route_path) in ROUTES if route_path == path}
    # Wrong paths and methods are answered and recorded too, but never play a fault.
    matched = request.method in allowed
    if matched:
        endpoint, route = ROUTES[(request.method, path)]
    elif allowed:
        endpoint, route = "unknown", _method_not_allowed
    else:
        endpoint, route = "unknown", _not_found
    record = RecordedRequest(
        method=request.method,
        path=request.path,
        endpoint=endpoint,
        query=dict(request.query),
        headers=_redacted_headers(request),
        body=await _read_body(request),
        auth=_auth_state(request, state.token),
        client_port=_client_port(request),
    )
    state.record(record)
    # The gateway in front of the API counts the token's requests before anything else happens.
    wait = state.admit() if record.auth == "ok" else None
    fault = state.take_fault(endpoint) if matched and wait is None else None
    record.fault = RATE_LIMIT_FAULT if wait is not None else fault.kind if fault else None
    console: TextIO = request.app[CONSOLE_KEY]  # type: ignore[assignment]
    try:
        if wait is not None:
            response: web.StreamResponse = rate_limited(wait)
        else:
            # ``is None``, not ``or``: an aiohttp Response with an empty body is falsy on older aiohttp.
            played = await _play_fault(fault, request, record, route) if fault else None
            response = played if played is not None else await route(request, record)
    except asyncio.CancelledError:
        record.status = None
        print(_console_line(record), file=console, flush=True)
        raise
    record.status = response.status
    print(_console_line(record), file=console, flush=True)
    return response


# --------------------------------------------------------------------------------------------------
# Admin API


async def admin_requests(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].snapshot(), 200)


async def admin_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return _json({"reset": True}, 200)


async def admin_fault(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
        fault = request.app[STATE_KEY].inject(**payload)
    except (ValueError, TypeError) as error:
        return _json({"error": str(error)}, 400)
    return _json({"injected": fault.kind, "endpoint": fault.endpoint, "times": fault.times}, 200)


async def admin_rate_limit(request: web.Request) -> web.Response:
    """``POST {"limit": "100/60s"}`` sets the limit (a new window), ``{"limit": null}`` lifts it."""
    state = request.app[STATE_KEY]
    if request.method == "POST":
        try:
            payload = await request.json()
            if not isinstance(payload, dict) or "limit" not in payload:
                raise ValueError('expected {"limit": "100/60s"} or {"limit": null}')
            state.set_rate_limit(payload["limit"])
        except (ValueError, TypeError) as error:
            return _json({"error": str(error)}, 400)
    limit = state.rate_limit
    return _json(
        {"limit": None if limit is None else str(limit), "rate_limited": len(state.rate_limited())}, 200
    )


async def admin_status(request: web.Request) -> web.Response:
    payload = await request.json()
    request.app[STATE_KEY].set_status(**payload)
    return _json({"status": payload}, 200)


async def admin_balance(request: web.Request) -> web.Response:
    payload = await request.json()
    request.app[STATE_KEY].set_balance(Decimal(str(payload["balance"])))
    return _json({"balance": str(payload["balance"])}, 200)


async def admin_unreachable(request: web.Request) -> web.Response:
    payload = await request.json()
    request.app[STATE_KEY].set_unreachable(payload.get("numbers", []))
    return _json({"unreachable": payload.get("numbers", [])}, 200)


async def admin_senders(request: web.Request) -> web.Response:
    payload = await request.json()
    request.app[STATE_KEY].set_senders(payload.get("senders", []))
    return _json({"senders": request.app[STATE_KEY].senders}, 200)


def create_app(state: SandboxState, console: TextIO | None = None) -> web.Application:
    app = web.Application(middlewares=[_api])
    app[STATE_KEY] = state
    app[CONSOLE_KEY] = console or sys.stdout
    app.router.add_get("/_sandbox/requests", admin_requests)
    app.router.add_post("/_sandbox/reset", admin_reset)
    app.router.add_post("/_sandbox/faults", admin_fault)
    app.router.add_post("/_sandbox/status", admin_status)
    app.router.add_post("/_sandbox/balance", admin_balance)
    app.router.add_post("/_sandbox/unreachable", admin_unreachable)
    app.router.add_post("/_sandbox/senders", admin_senders)
    app.router.add_get("/_sandbox/rate-limit", admin_rate_limit)
    app.router.add_post("/_sandbox/rate-limit", admin_rate_limit)
    from taqnyat_provider.sandbox.audio import audio_routes  # audio files for the voice preflight

    app.router.add_routes(audio_routes(state, app[CONSOLE_KEY]))  # type: ignore[arg-type]
    return app
