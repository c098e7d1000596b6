"""
The asyncio twin of :class:`~taqnyat_provider.hooks.taqnyat.TaqnyatHook`, on ``aiohttp``.

Its users run on an event loop that others share (the triggerer's, a deadline callback's), so the
first use must not stall it: importing this module loads no HTTP library, and the first awaited
call loads ``aiohttp``, Airflow's async connection helpers and ``phonenumbers`` in a worker thread
(:func:`load_async_stack`) while the loop goes on serving everyone else.

Its proxy and TLS come from :mod:`~taqnyat_provider.hooks.network_route`, as the sync hook's do, worked
out once per hook (in a worker thread when it reads the environment or a CA file). The ``aiohttp``
session itself never trusts the environment: it would add a ``.netrc`` entry's login and password
to each request (and refuse each request that carries the Bearer header).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseHook

from taqnyat_provider.core.connection_settings import CONN_TYPE, DEFAULT_CONN_ID, ConnectionSettings
from taqnyat_provider.core.delivery import DEFAULT_BATCH_SIZE, DeliveryReport
from taqnyat_provider.core.endpoints import account, sms_delete, status
from taqnyat_provider.core.endpoints.sms import SmsMessage
from taqnyat_provider.core.endpoints.voice import VoiceCall
from taqnyat_provider.core.loose_json import MAX_BODY_BYTES
from taqnyat_provider.core.steps import (
    Answer,
    Call,
    Request,
    Step,
    Steps,
    TransportError,
    Wait,
    adrive,
)
from taqnyat_provider.hooks.network_route import network_route, tls_context
from taqnyat_provider.hooks.off_loop import import_off_the_loop
from taqnyat_provider.hooks.transport import (
    BASE_HEADERS,
    CHUNK_BYTES,
    DEADLINE_FACTOR,
    NotOffered,
    TaqnyatCalls,
    aiohttp_failure,
    auth_headers,
    certificate_error,
    failure_detail,
    mask_proxy_password,
    read_settings,
)

if TYPE_CHECKING:
    import aiohttp

    from taqnyat_provider.core.endpoints.account import Balance, Sender
    from taqnyat_provider.core.endpoints.sms_delete import Acknowledgement
    from taqnyat_provider.core.endpoints.status import StatusPoll, SystemStatus
    from taqnyat_provider.core.ledger import Ledger
    from taqnyat_provider.core.retry import RetryPolicy
    from taqnyat_provider.core.sending import PreparedSend, SendResult

T = TypeVar("T")

ASYNC_STACK = (
    "aiohttp",
    "airflow.providers.common.compat.connection",
    "phonenumbers",  # the connection's caller_id, then the recipients, are checked on the loop
)
"""What the async hook loads on first use: some 0.25 s of imports in a fresh process."""

AIRFLOW_LOOKUP_STACK = ("airflow.sdk.execution_time.cache", "airflow.sdk.execution_time.supervisor")
"""
What Airflow 3's connection lookup imports on first use, 0.1 s and more, when this process has not
(a triggerer has; a process that only runs callbacks may not). Absent on Airflow 2.
"""

_stack_loaded = False


async def load_async_stack() -> None:
    """
    Import :data:`ASYNC_STACK` in a worker thread, once per process; the event loop keeps running.

    An import on the loop itself would hold every other trigger for as long as it takes (the
    triggerer warns "async thread was blocked"), and importing it all when this module loads would
    put the same cost on every DAG file that imports a notifier.
    """
    global _stack_loaded
    if _stack_loaded:
        return
    await import_off_the_loop(*ASYNC_STACK, optional=AIRFLOW_LOOKUP_STACK)
    _stack_loaded = True


def request_options(settings: ConnectionSettings) -> dict[str, Any]:
    """
    What every request of an async hook passes besides the call itself: the proxy and TLS of
    :func:`~taqnyat_provider.hooks.network_route.network_route`, with a CA bundle loaded (blocking: it
    reads the file or folder), and no redirects. A proxy's password (the environment's, too) is
    masked in logs.
    """
    route = network_route(settings)
    mask_proxy_password(route)
    return {"ssl": tls_context(route), "proxy": route.proxy, "allow_redirects": False}


def request_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """
    The connect (TLS handshake and a proxy's tunnel included) within ``seconds``, so a stalled
    handshake is a connection timeout (nothing sent) rather than the total deadline's bare
    ``TimeoutError``; each wait for a byte within ``seconds``; the whole request within
    :data:`~taqnyat_provider.hooks.transport.DEADLINE_FACTOR` times that.
    """
    import aiohttp

    return aiohttp.ClientTimeout(
        total=DEADLINE_FACTOR * seconds, connect=seconds, sock_connect=seconds, sock_read=seconds
    )


class TaqnyatAsyncHook(TaqnyatCalls, BaseHook):
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
        self._request_options: dict[str, Any] | None = None

    async def get_settings(self) -> ConnectionSettings:
        """The connection's settings, read once without blocking the event loop."""
        if self._settings is None:
            await load_async_stack()
            from airflow.providers.common.compat.connection import (
                get_async_connection,
                get_async_extra_dejson,
            )

            conn = await get_async_connection(self.taqnyat_conn_id, hook=self)
            self._settings = read_settings(conn, await get_async_extra_dejson(conn))
            for warning in self._settings.warnings:
                self.log.warning("%s", warning)
        return self._settings

    async def check_connection_settings(self) -> None:
        """Read the connection and open the session a call would use, sending nothing."""
        await self._http_session()
        await self._options(await self.get_settings())

    get_conn = NotOffered("the session sends only through the hook's calls and sends")

    async def _http_session(self) -> aiohttp.ClientSession:
        """The hook's one session (created on first use, inside the running event loop)."""
        if self._session is None or self._session.closed:
            settings = await self.get_settings()
            import aiohttp

            # Never trust_env here: aiohttp would add a .netrc entry's credentials to each request.
            # The environment's proxy and CA bundle come from request_options instead.
            self._session = aiohttp.ClientSession(
                headers=BASE_HEADERS,
                timeout=request_timeout(settings.timeout),
                trust_env=False,
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

    async def _options(self, settings: ConnectionSettings) -> dict[str, Any]:
        """
        :func:`request_options`, worked out once per hook: in a worker thread when it reads the
        environment or a CA bundle file, so the event loop never waits for either.
        """
        if self._request_options is None:
            if settings.trust_env or isinstance(settings.verify, str):
                self._request_options = await asyncio.to_thread(request_options, settings)
            else:
                self._request_options = request_options(settings)
        return self._request_options

    async def _transfer(self, request: Request) -> Answer:
        settings = await self.get_settings()  # first: it loads aiohttp off the event loop
        session = await self._http_session()
        options = await self._options(settings)
        import aiohttp

        try:
            async with session.request(
                request.method,
                settings.url(request.endpoint),
                params=request.params,
                json=request.json,
                headers=auth_headers(settings, request),
                **options,
            ) as response:
                body = b""
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:  # one byte more than the parser takes
                        break
                return Answer(response.status, response.headers, body)
        except aiohttp.ClientConnectorCertificateError as error:
            raise certificate_error(settings, error) from None
        except (TimeoutError, aiohttp.ClientError) as error:
            raise TransportError(aiohttp_failure(error), failure_detail(error, options["proxy"])) from None

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Wait):
            return await asyncio.sleep(step.seconds)
        if isinstance(step, Call):  # a send-ledger read or write: off the event loop if it blocks
            return await asyncio.to_thread(step.function) if step.blocking else step.function()
        return await self._transfer(step)

    async def _drive(self, steps: Steps[T]) -> T:
        return await adrive(steps, self._perform)

    # The API's calls, as TaqnyatHook's (see there), awaited.

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        authenticated: bool = True,
    ) -> Answer:
        """One API call under the retry rules; sends are refused (see :meth:`TaqnyatHook.request`)."""
        return await self._drive(self._request_steps(method, endpoint, json, params, authenticated))

    async def get_system_status(self) -> SystemStatus:
        """Read ``GET /system/status/``; no token is sent."""
        return await self._drive(status.system_status(self.policy, self.log))

    async def poll_system_status(self) -> StatusPoll:
        """One poll of the status, as the status trigger makes it (see ``status.poll``)."""
        return await self._drive(status.poll(self.log))

    async def get_balance(self) -> Balance:
        """Read the account balance (``GET /account/balance``)."""
        return await self._drive(account.balance(self.policy, self.log))

    async def get_senders(self) -> list[Sender]:
        """The account's sender names (``GET /v1/messages/senders``)."""
        return await self._drive(account.senders(self.policy, self.log))

    async def delete_scheduled_sms(self, delete_id: int | str) -> Acknowledgement:
        """Cancel a scheduled SMS by its ``deleteId`` (``DELETE /v1/messages/delete``)."""
        return await self._drive(sms_delete.delete_scheduled_sms(delete_id, self.policy, self.log))

    async def place_voice_calls(
        self, audio_url: str, recipients: Any, caller_id: str | None = None, **options: Any
    ) -> DeliveryReport:
        """Call every recipient once (see :meth:`TaqnyatHook.place_voice_calls`)."""
        region = options.pop("default_region", None)
        call = VoiceCall(audio_url, recipients, caller_id, region)
        return await self.deliver(call.prepare(await self.get_settings()), **options)

    async def send_sms(
        self,
        body: str,
        recipients: Any,
        sender: str | None = None,
        scheduled_at: Any = None,
        delete_id: int | str | None = None,
        **options: Any,
    ) -> DeliveryReport:
        """Send an SMS to every recipient once (see :meth:`TaqnyatHook.send_sms`)."""
        region = options.pop("default_region", None)
        message = SmsMessage(body, recipients, sender, scheduled_at, delete_id, region)
        return await self.deliver(message.prepare(await self.get_settings()), **options)

    async def send_voice(self, audio_url: str, caller_id: str | None, recipients: Any) -> SendResult:
        """Place voice calls in one request (see :meth:`TaqnyatHook.send_voice`)."""
        prepared = VoiceCall(audio_url, recipients, caller_id).prepare(await self.get_settings())
        [result] = (await self.deliver(prepared, max(len(prepared.recipients), 1))).results
        return result

    async def deliver(
        self,
        prepared: PreparedSend,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        ledger: Ledger | None = None,
        on_unknown: str = "fail",
    ) -> DeliveryReport:
        """Send a prepared send in batches; never twice to anyone (see :meth:`TaqnyatHook.deliver`)."""
        return await self._drive(self._delivery_steps(prepared, batch_size, ledger, on_unknown))
