"""
Hooks for the Taqnyat API: thin transports over the pure core.

``TaqnyatHook`` (``requests``, an ``HttpHook``) and ``TaqnyatAsyncHook`` (``aiohttp``) only know
how to perform one request, one wait and one blocking call; what to send, when to retry and how a
batched send is kept in the send ledger are the core's steps (:mod:`taqnyat_provider.steps`), which
both drive the same way. Each hook owns its HTTP session, as the Slack provider owns its client:
the http provider's private session plumbing is not used.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from functools import cached_property
from typing import Any

import aiohttp
import requests
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import BaseHook, mask_secret
from airflow.providers.http.hooks.http import HttpHook

from taqnyat_provider import __version__, api, responses
from taqnyat_provider.connection_settings import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    ConnectionSettings,
    settings_from_connection,
)
from taqnyat_provider.delivery import DEFAULT_BATCH_SIZE, Delivery, DeliveryReport
from taqnyat_provider.exceptions import TaqnyatConfigurationError
from taqnyat_provider.ledger import Ledger
from taqnyat_provider.messages import PreparedSend, SmsMessage, VoiceCall
from taqnyat_provider.retry import RetryPolicy
from taqnyat_provider.steps import (
    MAX_BODY_BYTES,
    Answer,
    Call,
    Failure,
    Request,
    Step,
    Steps,
    TransportError,
    Wait,
    adrive,
    drive,
)

BASE_HEADERS = {"Accept": "application/json", "User-Agent": f"airflow-provider-taqnyat/{__version__}"}
_CHUNK = 64 * 1024


def read_settings(conn: Any, extra: dict[str, Any]) -> ConnectionSettings:
    settings = settings_from_connection(
        host=conn.host, schema=conn.schema, port=conn.port, password=conn.password, extra=extra
    )
    # Airflow masks the password itself; a token trimmed of whitespace is a new string to mask.
    if settings.token and settings.token != conn.password:
        mask_secret(settings.token)
    return settings


def auth_headers(settings: ConnectionSettings, request: Request) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.require_token()}"} if request.authenticated else {}


def _certificate_error(settings: ConnectionSettings, error: BaseException) -> TaqnyatConfigurationError:
    return TaqnyatConfigurationError(
        f"The TLS certificate of {settings.base_url} is not trusted ({type(error).__name__}); nothing was "
        "sent. Set the connection's CA bundle, or fix the certificate"
    )


def _is_certificate_error(error: BaseException | None, depth: int = 0) -> bool:
    """Whether a certificate check failed somewhere in the chain: the handshake, before any request."""
    if error is None or depth > 6:
        return False
    if isinstance(error, ssl.SSLCertVerificationError):
        return True
    nested = [getattr(error, "reason", None), error.__cause__, error.__context__]
    nested += [arg for arg in error.args if isinstance(arg, BaseException)]
    return any(_is_certificate_error(inner, depth + 1) for inner in nested)


def _requests_failure(error: requests.RequestException) -> Failure:
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return Failure.NOT_CONNECTED
    if isinstance(error, requests.exceptions.Timeout):
        return Failure.TIMED_OUT
    if isinstance(error, requests.exceptions.ConnectionError) and not isinstance(
        error, requests.exceptions.SSLError
    ):
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return Failure.NOT_CONNECTED
    # Any other TLS or connection error may come after the server read the request.
    return Failure.DROPPED


def _aiohttp_failure(error: BaseException) -> Failure:
    # ClientConnectorError (SSL handshake included) is raised before a byte of the request is sent.
    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return Failure.NOT_CONNECTED
    if isinstance(error, asyncio.TimeoutError):
        return Failure.TIMED_OUT
    return Failure.DROPPED


class _NoAuth(requests.auth.AuthBase):
    """Keeps requests from replacing the Bearer header with credentials from a ``.netrc``."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class TaqnyatHook(HttpHook):
    """
    Talk to the Taqnyat API with the Bearer token of a ``taqnyat`` connection.

    One ``requests`` session with TCP keep-alive serves every call of the hook, so a batched send
    opens one connection. Reads are retried with backoff; sends only when provably not processed
    (see :mod:`taqnyat_provider.retry`), and a batched send is kept in a send ledger
    (see :mod:`taqnyat_provider.delivery`).

    :param taqnyat_conn_id: The ``taqnyat`` connection: password = Bearer token, host = optional
        base URL (default ``https://api.taqnyat.sa``), extras as the connection form shows them.
    :param retry_policy: How many attempts and how long to wait between them.
    """

    conn_name_attr = "taqnyat_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Taqnyat"

    # Airflow 2.11 reads both from the hook class itself, not from a base class.
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from taqnyat_provider.get_provider_info import ui_field_behaviour

        return ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from taqnyat_provider.get_provider_info import connection_form_widgets

        return connection_form_widgets()

    def __init__(
        self, taqnyat_conn_id: str = DEFAULT_CONN_ID, retry_policy: RetryPolicy | None = None
    ) -> None:
        super().__init__(method="GET", http_conn_id=taqnyat_conn_id)
        self.taqnyat_conn_id = taqnyat_conn_id
        self.retry_policy = retry_policy
        self._session: requests.Session | None = None

    @cached_property
    def settings(self) -> ConnectionSettings:
        conn = self.get_connection(self.taqnyat_conn_id)
        settings = read_settings(conn, conn.extra_dejson)
        for warning in settings.warnings:
            self.log.warning("%s", warning)
        return settings

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: Any = None) -> requests.Session:
        """The hook's one session; it takes nothing from the environment unless the connection says so."""
        if self._session is None:
            settings = self.settings
            session = requests.Session()
            # Plain http is for loopback only: no proxy from the environment may see its token.
            session.trust_env = settings.trust_env and settings.base_url.startswith("https://")
            session.auth = _NoAuth()
            session.verify = settings.verify
            session.proxies.update(settings.proxies)
            session.headers.update(BASE_HEADERS)
            self._session = session
        if headers:
            self._session.headers.update(headers)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _transfer(self, request: Request) -> Answer:
        settings = self.settings
        try:
            with self.get_conn().request(
                request.method,
                settings.url(request.endpoint),
                params=request.params,
                json=request.json,
                headers=auth_headers(settings, request),
                timeout=settings.timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                body = b""
                for chunk in response.iter_content(_CHUNK):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        break
                return Answer(response.status_code, response.headers, body)
        except requests.RequestException as error:
            if _is_certificate_error(error):
                raise _certificate_error(settings, error) from None
            raise TransportError(_requests_failure(error), f"{type(error).__name__}: {error}") from None

    def _perform(self, step: Step) -> Any:
        if isinstance(step, Wait):
            return time.sleep(step.seconds)
        if isinstance(step, Call):
            return step.function()
        return self._transfer(step)

    def run_steps(self, steps: Steps[Any]) -> Any:
        """Drive a core generator (an API call or a delivery) over this hook's session."""
        return drive(steps, self._perform)

    @property
    def policy(self) -> RetryPolicy:
        from taqnyat_provider import retry

        return self.retry_policy or retry.DEFAULT_RETRY_POLICY

    def get_system_status(self) -> responses.SystemStatus:
        """Read ``GET /system/status/``; it needs no authorization, so no token is sent."""
        return self.run_steps(api.system_status(self.policy, self.log))

    def get_balance(self) -> responses.Balance:
        """Read the account balance (``GET /account/balance``): authenticated, read-only and free."""
        return self.run_steps(api.balance(self.policy, self.log))

    def get_senders(self) -> list[responses.Sender]:
        """The account's sender names (``GET /v1/messages/senders``); a trial account may have none."""
        return self.run_steps(api.senders(self.policy, self.log))

    def delete_scheduled_sms(self, delete_id: int | str) -> responses.Acknowledgement:
        """Cancel a scheduled SMS by the ``deleteId`` it was sent with (``DELETE /v1/messages/delete``)."""
        return self.run_steps(api.delete_scheduled_sms(delete_id, self.policy, self.log))

    def place_voice_calls(
        self, audio_url: str, recipients: Any, caller_id: str | None = None, **options: Any
    ) -> DeliveryReport:
        """
        Call every recipient once, ``batch_size`` numbers a request; all checks run before the first.

        ``caller_id`` falls back to the connection's ``caller_id`` extra. ``options``: ``batch_size``,
        ``default_region``, ``ledger`` and ``on_unknown`` (see :meth:`deliver`).
        """
        region = options.pop("default_region", None)
        return self.deliver(
            VoiceCall(audio_url, recipients, caller_id, region).prepare(self.settings), **options
        )

    def send_sms(
        self, body: str, recipients: Any, sender: str | None = None, **options: Any
    ) -> DeliveryReport:
        """
        Send an SMS to every recipient once (``POST /v1/messages``), ``batch_size`` numbers a request.

        ``sender`` defaults to the connection's ``sender`` extra. ``options``: ``scheduled_at`` (a
        timezone-aware datetime or ISO 8601 text, in the future), ``delete_id`` (made up for a
        scheduled send without one), and those of :meth:`deliver`.
        """
        message = SmsMessage(body, recipients, sender, *_sms_options(options))
        return self.deliver(message.prepare(self.settings), **options)

    def deliver(
        self,
        prepared: PreparedSend,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        ledger: Ledger | None = None,
        on_unknown: str = "fail",
    ) -> DeliveryReport:
        """Send a prepared send in batches over one kept-alive session; never twice to anyone."""
        delivery = Delivery(
            prepared, batch_size, ledger=ledger, on_unknown=on_unknown, policy=self.policy, log=self.log
        )
        return self.run_steps(delivery.steps())

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with the free, read-only balance call; never sends anything."""
        try:
            balance = self.get_balance()
        except Exception as error:
            return False, f"Taqnyat connection test failed: {error}"
        finally:
            self.close()
        return True, f"Connected to Taqnyat. Balance: {balance.balance} {balance.currency or 'SAR'}"


def _sms_options(options: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Take the SMS-only options out of ``options``, leaving those of ``deliver``."""
    return (
        options.pop("scheduled_at", None),
        options.pop("delete_id", None),
        options.pop("default_region", None),
    )


class TaqnyatAsyncHook(BaseHook):
    """
    The asyncio twin of :class:`TaqnyatHook`, for triggers and ``async_notify``: the same calls,
    rules and steps over one ``aiohttp`` session. Use it as ``async with TaqnyatAsyncHook() as hook``
    (or call :meth:`close`) to release the session.
    """

    conn_name_attr = "taqnyat_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Taqnyat"

    def __init__(
        self, taqnyat_conn_id: str = DEFAULT_CONN_ID, retry_policy: RetryPolicy | None = None
    ) -> None:
        super().__init__()
        self.taqnyat_conn_id = taqnyat_conn_id
        self.retry_policy = retry_policy
        self._settings: ConnectionSettings | None = None
        self._session: aiohttp.ClientSession | None = None

    policy = TaqnyatHook.policy

    async def get_settings(self) -> ConnectionSettings:
        """The connection's settings, read once without blocking the event loop."""
        if self._settings is None:
            conn = await get_async_connection(self.taqnyat_conn_id, hook=self)
            self._settings = read_settings(conn, await get_async_extra_dejson(conn))
            for warning in self._settings.warnings:
                self.log.warning("%s", warning)
        return self._settings

    async def get_conn(self) -> aiohttp.ClientSession:
        """The hook's one session (created on first use, inside the running event loop)."""
        if self._session is None or self._session.closed:
            settings = await self.get_settings()
            self._session = aiohttp.ClientSession(
                headers=BASE_HEADERS,
                timeout=aiohttp.ClientTimeout(total=settings.timeout),
                trust_env=settings.trust_env and settings.base_url.startswith("https://"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> TaqnyatAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _transfer(self, request: Request) -> Answer:
        settings = await self.get_settings()
        session = await self.get_conn()
        verify = settings.verify
        tls: Any = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        scheme = settings.base_url.split("://", 1)[0]
        try:
            async with session.request(
                request.method,
                settings.url(request.endpoint),
                params=request.params,
                json=request.json,
                headers=auth_headers(settings, request),
                allow_redirects=False,
                ssl=tls,
                proxy=settings.proxies.get(scheme) or settings.proxies.get("all"),
            ) as response:
                body = b""
                async for chunk in response.content.iter_chunked(_CHUNK):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        break
                return Answer(response.status, response.headers, body)
        except aiohttp.ClientConnectorCertificateError as error:
            raise _certificate_error(settings, error) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise TransportError(_aiohttp_failure(error), f"{type(error).__name__}: {error}") from None

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Wait):
            return await asyncio.sleep(step.seconds)
        if isinstance(step, Call):  # a send-ledger read or write: blocking, so off the event loop
            return await asyncio.to_thread(step.function)
        return await self._transfer(step)

    async def run_steps(self, steps: Steps[Any]) -> Any:
        """Drive a core generator (an API call or a delivery) over this hook's session."""
        return await adrive(steps, self._perform)

    async def get_system_status(self) -> responses.SystemStatus:
        return await self.run_steps(api.system_status(self.policy, self.log))

    async def get_balance(self) -> responses.Balance:
        return await self.run_steps(api.balance(self.policy, self.log))

    async def get_senders(self) -> list[responses.Sender]:
        return await self.run_steps(api.senders(self.policy, self.log))

    async def delete_scheduled_sms(self, delete_id: int | str) -> responses.Acknowledgement:
        return await self.run_steps(api.delete_scheduled_sms(delete_id, self.policy, self.log))

    async def place_voice_calls(
        self, audio_url: str, recipients: Any, caller_id: str | None = None, **options: Any
    ) -> DeliveryReport:
        """See :meth:`TaqnyatHook.place_voice_calls`."""
        region = options.pop("default_region", None)
        call = VoiceCall(audio_url, recipients, caller_id, region)
        return await self.deliver(call.prepare(await self.get_settings()), **options)

    async def send_sms(
        self, body: str, recipients: Any, sender: str | None = None, **options: Any
    ) -> DeliveryReport:
        """See :meth:`TaqnyatHook.send_sms`."""
        message = SmsMessage(body, recipients, sender, *_sms_options(options))
        return await self.deliver(message.prepare(await self.get_settings()), **options)

    async def deliver(
        self,
        prepared: PreparedSend,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        ledger: Ledger | None = None,
        on_unknown: str = "fail",
    ) -> DeliveryReport:
        """See :meth:`TaqnyatHook.deliver`."""
        delivery = Delivery(
            prepared, batch_size, ledger=ledger, on_unknown=on_unknown, policy=self.policy, log=self.log
        )
        try:
            return await self.run_steps(delivery.steps())
        finally:
            await self.close()
