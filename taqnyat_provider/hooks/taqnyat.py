"""Hooks for the Taqnyat API: ``TaqnyatHook`` (requests, on HttpHook) and ``TaqnyatAsyncHook`` (aiohttp)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import aiohttp
import requests
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import mask_secret
from airflow.providers.http.hooks.http import HttpAsyncHook, HttpHook, SessionConfig
from requests.exceptions import ConnectionError as RequestsConnectionError
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from taqnyat_provider import __version__, delivery, responses
from taqnyat_provider.connection_settings import (
    DEFAULT_BASE_URL,
    ConnectionSettings,
    settings_from_connection,
)
from taqnyat_provider.delivery import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    BatchDelivery,
    DeliveryReport,
    Failure,
    PreparedSend,
    RetryPolicy,
    parse_retry_after,
)
from taqnyat_provider.exceptions import (
    TaqnyatConfigurationError,
    TaqnyatDeliveryUnknownError,
    TaqnyatError,
    TaqnyatResponseError,
)
from taqnyat_provider.recipients import check_batch_size
from taqnyat_provider.sends import SmsMessage, VoiceCall
from taqnyat_provider.sms import API_TIMEZONE, check_delete_id

if TYPE_CHECKING:
    from airflow.providers.http.hooks.http import AsyncHttpSession

STATUS_ENDPOINT = "system/status/"
BALANCE_ENDPOINT = "account/balance"
SENDERS_ENDPOINT = "v1/messages/senders"
DELETE_SMS_ENDPOINT = "v1/messages/delete"

_USER_AGENT = f"airflow-provider-taqnyat/{__version__}"
_BASE_HEADERS = {"Accept": "application/json", "User-Agent": _USER_AGENT}


def _sending_log(log: Any, prepared: PreparedSend, total: int) -> None:
    scheduled = prepared.summary.get("scheduled_at")
    log.info(
        "Sending %s to %d recipient(s) in %d batch(es)%s",
        prepared.what,
        len(prepared.recipients),
        total,
        f", scheduled for {scheduled} ({API_TIMEZONE.tzname(None)})" if scheduled else "",
    )


def _batch_log(log: Any, number: int, total: int, result: responses.SendResult) -> None:
    log.info(
        "Batch %d of %d delivered: message id %s, %d accepted, %d rejected",
        number,
        total,
        result.message_id,
        len(result.accepted),
        len(result.rejected),
    )


def _settings_from(conn: Any, extra: dict[str, Any]) -> ConnectionSettings:
    settings = settings_from_connection(
        host=conn.host, schema=conn.schema, port=conn.port, password=conn.password, extra=extra
    )
    # Airflow masks the password itself; a token trimmed of whitespace is a new string to mask.
    if settings.token and settings.token != conn.password:
        mask_secret(settings.token)
    return settings


def _classify_requests_error(error: requests.RequestException) -> Failure:
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return Failure.NOT_CONNECTED
    if isinstance(error, requests.exceptions.Timeout):
        return Failure.TIMED_OUT
    if isinstance(error, RequestsConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return Failure.NOT_CONNECTED
    return Failure.DROPPED


def _classify_aiohttp_error(error: BaseException) -> Failure:
    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return Failure.NOT_CONNECTED
    if isinstance(error, asyncio.TimeoutError):
        return Failure.TIMED_OUT
    return Failure.DROPPED


class _TaqnyatHookMixin:
    """What both hooks share: the connection form, and what happens after a request was answered."""

    conn_name_attr = "taqnyat_conn_id"
    default_conn_name = "taqnyat_default"
    conn_type = "taqnyat"
    hook_name = "Taqnyat"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form on Airflow 2 (Airflow 3 reads ``conn-fields`` from provider info)."""
        return {
            "hidden_fields": ["login", "schema", "port"],
            "relabeling": {"password": "Bearer token", "host": "API base URL (optional)"},
            "placeholders": {
                "host": DEFAULT_BASE_URL,
                "password": "Bearer token from Taqnyat: Developer > Application",
                "extra": '{"timeout": 30, "caller_id": "966500000000", "sender": "MyBrand"}',
            },
        }

    log: Any

    def _delay_after_failure(
        self,
        policy: RetryPolicy,
        attempt: int,
        *,
        method: str,
        endpoint: str,
        failure: Failure,
        detail: str,
        http_status: int | None = None,
        retry_after_header: str | None = None,
    ) -> float:
        """Seconds to wait before the next attempt, or raise (see ``RetryPolicy.after_failure``)."""
        return policy.after_failure(
            attempt,
            is_send=method.upper() != "GET",
            failure=failure,
            description=f"{method} /{endpoint}: {failure.value} ({detail})",
            log=self.log,
            http_status=http_status,
            retry_after=parse_retry_after(retry_after_header),
        )

    @staticmethod
    def _http_detail(http_status: int, text: str) -> str:
        return f"HTTP {http_status} {responses.excerpt(text)[:120]!r}"


class TaqnyatHook(_TaqnyatHookMixin, HttpHook):
    """
    Talk to the Taqnyat API with the Bearer token of a ``taqnyat`` connection.

    One ``requests`` session with TCP keep-alive serves every call of the hook, so a batched send
    opens one connection. Reads are retried with backoff; sends only when provably not processed
    (see :mod:`taqnyat_provider.delivery`).

    :param taqnyat_conn_id: The ``taqnyat`` connection: password = Bearer token, host = optional
        base URL (default ``https://api.taqnyat.sa``), extras ``timeout``, ``caller_id``, ``sender``,
        ``verify`` and ``proxies``.
    :param retry_policy: How many attempts and how long to wait between them.
    """

    def __init__(
        self,
        taqnyat_conn_id: str = _TaqnyatHookMixin.default_conn_name,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__(method="GET", http_conn_id=taqnyat_conn_id)
        self.taqnyat_conn_id = taqnyat_conn_id
        self._retry_policy = retry_policy
        self._session: requests.Session | None = None

    @cached_property
    def settings(self) -> ConnectionSettings:
        conn = self.get_connection(self.taqnyat_conn_id)
        return _settings_from(conn, conn.extra_dejson)

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """The hook's one session. Extras are settings, never headers, and no token rides on it."""
        if self._session is None:
            settings = self.settings
            self.base_url = settings.base_url
            self._base_url_initialized = True
            session = requests.Session()
            session.verify = settings.verify
            session.proxies.update(settings.proxies)
            session.headers.update(_BASE_HEADERS)
            self._session = self._configure_session_from_mount_adapters(session)
        if headers:
            self._session.headers.update(headers)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def run_and_check(
        self,
        session: requests.Session,
        prepped_request: requests.PreparedRequest,
        extra_options: dict[Any, Any],
    ) -> requests.Response:
        """Send one prepared request; retry decisions belong to ``request``, not to this transport step."""
        settings = session.merge_environment_settings(
            prepped_request.url, proxies=session.proxies, stream=False, verify=session.verify, cert=None
        )
        return session.send(
            prepped_request, timeout=extra_options.get("timeout"), allow_redirects=False, **settings
        )

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        authenticated: bool = True,
    ) -> requests.Response:
        """
        Make one API call under the retry rules and return the answered response (not 429/5xx).

        :raises TaqnyatDeliveryUnknownError: a send may have been processed; never re-sent.
        :raises TaqnyatTransientError: the call failed but provably was not processed.
        """
        settings = self.settings
        headers = {"Authorization": f"Bearer {settings.require_token()}"} if authenticated else {}
        session = self.get_conn()
        policy = self._retry_policy or delivery.DEFAULT_RETRY_POLICY
        for attempt in range(1, policy.max_attempts + 1):
            prepped = session.prepare_request(
                requests.Request(
                    method.upper(), settings.url(endpoint), json=json, params=params, headers=headers
                )
            )
            http_status = retry_after_header = None
            try:
                response = self.run_and_check(session, prepped, {"timeout": settings.timeout})
            except requests.exceptions.SSLError as error:
                raise TaqnyatConfigurationError(
                    f"TLS with {settings.base_url} failed: {error}. Check the connection's 'verify' extra"
                ) from None
            except requests.RequestException as error:
                failure = _classify_requests_error(error)
                detail = f"{type(error).__name__}: {error}"
            else:
                if policy.is_answer(response.status_code):
                    return response
                failure, http_status = Failure.HTTP_STATUS, response.status_code
                retry_after_header = response.headers.get("Retry-After")
                detail = self._http_detail(http_status, response.text)
            time.sleep(
                self._delay_after_failure(
                    policy,
                    attempt,
                    method=method,
                    endpoint=endpoint,
                    failure=failure,
                    detail=detail,
                    http_status=http_status,
                    retry_after_header=retry_after_header,
                )
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def get_system_status(self) -> responses.SystemStatus:
        """Read ``GET /system/status/``; it needs no authorization, so no token is sent."""
        response = self.request("GET", STATUS_ENDPOINT, authenticated=False)
        return responses.parse_system_status(response.status_code, response.text)

    def get_balance(self) -> responses.Balance:
        """Read the account balance (``GET /account/balance``): authenticated, read-only and free."""
        response = self.request("GET", BALANCE_ENDPOINT)
        return responses.parse_balance(response.status_code, response.text)

    def send_voice(
        self, audio_url: str, caller_id: str | None, recipients: Iterable[str]
    ) -> responses.SendResult:
        """Place voice calls in one request (``POST /voiceSend.php/``); see ``place_voice_calls`` for batches."""
        prepared = VoiceCall(audio_url, list(recipients), caller_id).prepare(self.settings)
        return self._send(prepared.endpoint, prepared.payload(prepared.recipients), prepared.recipients)

    def place_voice_calls(
        self,
        audio_url: str,
        recipients: Any,
        caller_id: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        default_region: str | None = None,
    ) -> DeliveryReport:
        """
        Call every recipient once, ``batch_size`` numbers a request; all checks run before the first.

        ``caller_id`` falls back to the connection's ``caller_id`` extra.
        """
        call = VoiceCall(audio_url, recipients, caller_id, default_region)
        return self.deliver(call.prepare(self.settings), batch_size)

    def send_sms(
        self,
        body: str,
        recipients: Any,
        sender: str | None = None,
        scheduled_at: Any = None,
        delete_id: int | str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        default_region: str | None = None,
    ) -> DeliveryReport:
        """
        Send an SMS to every recipient once (``POST /v1/messages``), ``batch_size`` numbers a request.

        :param sender: A registered sender name; defaults to the connection's ``sender`` extra.
        :param scheduled_at: Send later: a timezone-aware datetime or ISO 8601 text, in the future.
        :param delete_id: The ``deleteId`` that cancels a scheduled send; one is made up when a
            scheduled send has none. The report's ``summary`` says which.
        :raises InvalidInputError: before any request, naming the bad value.
        """
        message = SmsMessage(body, recipients, sender, scheduled_at, delete_id, default_region)
        return self.deliver(message.prepare(self.settings), batch_size)

    def get_senders(self) -> list[responses.Sender]:
        """The account's sender names (``GET /v1/messages/senders``); a trial account may have none."""
        response = self.request("GET", SENDERS_ENDPOINT)
        return responses.parse_senders(response.status_code, response.text)

    def delete_scheduled_sms(self, delete_id: int | str) -> responses.Acknowledgement:
        """Cancel a scheduled SMS by the ``deleteId`` it was sent with (``DELETE /v1/messages/delete``)."""
        params = {"deleteId": check_delete_id(delete_id)}
        response = self.request("DELETE", DELETE_SMS_ENDPOINT, params=params)
        return responses.parse_acknowledgement(response.status_code, response.text)

    def _send(self, endpoint: str, payload: dict[str, Any], recipients: list[str]) -> responses.SendResult:
        response = self.request("POST", endpoint, json=payload)
        return _parse_send(response.status_code, response.text, recipients)

    def deliver(self, prepared: PreparedSend, batch_size: int = DEFAULT_BATCH_SIZE) -> DeliveryReport:
        """Send a prepared send in batches, in order, over one kept-alive session; never twice to anyone."""
        delivery = BatchDelivery(prepared, check_batch_size(batch_size, MAX_BATCH_SIZE))
        total = len(delivery.batches)
        _sending_log(self.log, prepared, total)
        for number, batch in enumerate(delivery.batches, start=1):
            try:
                result = self._send(prepared.endpoint, prepared.payload(batch), batch)
            except TaqnyatError as error:
                delivery.fail(error)
            delivery.record(result)
            _batch_log(self.log, number, total, result)
        return delivery.report

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with the free, read-only balance call; never sends anything."""
        try:
            balance = self.get_balance()
        except Exception as error:
            return False, f"Taqnyat connection test failed: {error}"
        finally:
            self.close()
        return True, f"Connected to Taqnyat. Balance: {balance.balance} {balance.currency or ''}".rstrip()


def _parse_send(http_status: int, body: str, recipients: list[str]) -> responses.SendResult:
    """Parse a send's answer; after a POST an unreadable answer means the outcome is unknown."""
    try:
        return responses.parse_send_response(http_status, body, recipients)
    except TaqnyatResponseError as error:
        raise TaqnyatDeliveryUnknownError(str(error), http_status=http_status) from None


class TaqnyatAsyncHook(_TaqnyatHookMixin, HttpAsyncHook):
    """
    The asyncio twin of :class:`TaqnyatHook`, for triggers and ``async_notify``.

    Same connection rules and the same retry policy; transport is ``HttpAsyncHook``'s aiohttp session.
    """

    def __init__(
        self,
        taqnyat_conn_id: str = _TaqnyatHookMixin.default_conn_name,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        # Retries are ours (see ``request``); HttpAsyncHook must make each attempt exactly once.
        super().__init__(method="GET", http_conn_id=taqnyat_conn_id, retry_limit=1)
        self.taqnyat_conn_id = taqnyat_conn_id
        self._retry_policy = retry_policy
        self.settings: ConnectionSettings | None = None

    async def config(self) -> SessionConfig:
        if self._config is None:
            conn = await get_async_connection(self.taqnyat_conn_id, hook=self)
            settings = _settings_from(conn, await get_async_extra_dejson(conn))
            self.settings = settings
            self.base_url = settings.base_url
            extra_options: dict[str, Any] = {
                "timeout": aiohttp.ClientTimeout(total=settings.timeout),
                "allow_redirects": False,
                "check_response": False,
            }
            if settings.verify is False:
                extra_options["ssl"] = False
            elif isinstance(settings.verify, str):
                import ssl

                extra_options["ssl"] = ssl.create_default_context(cafile=settings.verify)
            proxy = settings.proxies.get(settings.base_url.split("://")[0]) or settings.proxies.get("all")
            if proxy:
                extra_options["proxy"] = proxy
            self._config = SessionConfig(
                base_url=settings.base_url,
                headers=dict(_BASE_HEADERS),
                auth=None,
                extra_options=extra_options,
            )
        return self._config

    async def request(
        self,
        http: AsyncHttpSession,
        endpoint: str,
        *,
        json: dict[str, Any] | None = None,
        authenticated: bool = True,
    ) -> tuple[int, str]:
        """One call on an open session (its method fixed by ``session(method)``), under the retry rules."""
        config = await self.config()
        assert self.settings is not None
        headers = {"Authorization": f"Bearer {self.settings.require_token()}"} if authenticated else {}
        method = http.method
        policy = self._retry_policy or delivery.DEFAULT_RETRY_POLICY
        for attempt in range(1, policy.max_attempts + 1):
            http_status = retry_after_header = None
            try:
                response = await http.run(
                    endpoint=endpoint,
                    json=json,
                    headers=headers,
                    extra_options=dict(config.extra_options or {}),
                )
                async with response:
                    text = await response.text()
            except aiohttp.ClientSSLError as error:
                raise TaqnyatConfigurationError(
                    f"TLS with {self.settings.base_url} failed: {error}. Check the connection's 'verify' extra"
                ) from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                failure = _classify_aiohttp_error(error)
                detail = f"{type(error).__name__}: {error}"
            else:
                if policy.is_answer(response.status):
                    return response.status, text
                failure, http_status = Failure.HTTP_STATUS, response.status
                retry_after_header = response.headers.get("Retry-After")
                detail = self._http_detail(http_status, text)
            await asyncio.sleep(
                self._delay_after_failure(
                    policy,
                    attempt,
                    method=method,
                    endpoint=endpoint,
                    failure=failure,
                    detail=detail,
                    http_status=http_status,
                    retry_after_header=retry_after_header,
                )
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_system_status(self, http: AsyncHttpSession | None = None) -> responses.SystemStatus:
        """Read ``GET /system/status/`` without the token; pass ``http`` to reuse an open session."""
        if http is None:
            async with self.session(method="GET") as own:
                return await self.get_system_status(own)
        status, text = await self.request(http, STATUS_ENDPOINT, authenticated=False)
        return responses.parse_system_status(status, text)

    async def get_settings(self) -> ConnectionSettings:
        """The connection's settings, read once (without blocking the event loop)."""
        await self.config()
        assert self.settings is not None
        return self.settings

    async def place_voice_calls(
        self,
        audio_url: str,
        recipients: Any,
        caller_id: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        default_region: str | None = None,
    ) -> DeliveryReport:
        """The asyncio twin of :meth:`TaqnyatHook.place_voice_calls`, with the same checks and rules."""
        call = VoiceCall(audio_url, recipients, caller_id, default_region)
        return await self.deliver(call.prepare(await self.get_settings()), batch_size)

    async def send_sms(
        self,
        body: str,
        recipients: Any,
        sender: str | None = None,
        scheduled_at: Any = None,
        delete_id: int | str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        default_region: str | None = None,
    ) -> DeliveryReport:
        """The asyncio twin of :meth:`TaqnyatHook.send_sms`, with the same checks and rules."""
        message = SmsMessage(body, recipients, sender, scheduled_at, delete_id, default_region)
        return await self.deliver(message.prepare(await self.get_settings()), batch_size)

    async def deliver(self, prepared: PreparedSend, batch_size: int = DEFAULT_BATCH_SIZE) -> DeliveryReport:
        """The asyncio twin of :meth:`TaqnyatHook.deliver`: one session, in order, never twice to anyone."""
        delivery = BatchDelivery(prepared, check_batch_size(batch_size, MAX_BATCH_SIZE))
        total = len(delivery.batches)
        _sending_log(self.log, prepared, total)
        async with self.session(method="POST") as http:
            for number, batch in enumerate(delivery.batches, start=1):
                try:
                    status, text = await self.request(http, prepared.endpoint, json=prepared.payload(batch))
                    result = _parse_send(status, text, batch)
                except TaqnyatError as error:
                    delivery.fail(error)
                delivery.record(result)
                _batch_log(self.log, number, total, result)
        return delivery.report
