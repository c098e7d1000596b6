"""The asyncio twin of :class:`~taqnyat_provider.hooks.taqnyat.TaqnyatHook`, on ``aiohttp``."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import BaseHook

from taqnyat_provider.connection_settings import CONN_TYPE, DEFAULT_CONN_ID, ConnectionSettings
from taqnyat_provider.delivery import DeliveryReport
from taqnyat_provider.hooks.transport import (
    BASE_HEADERS,
    CHUNK_BYTES,
    TaqnyatCalls,
    aiohttp_failure,
    auth_headers,
    certificate_error,
    read_settings,
)
from taqnyat_provider.messages import SmsMessage, VoiceCall
from taqnyat_provider.responses import MAX_BODY_BYTES
from taqnyat_provider.retry import RetryPolicy
from taqnyat_provider.steps import (
    Answer,
    Call,
    Request,
    Step,
    Steps,
    TransportError,
    Wait,
    adrive,
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
                trust_env=settings.trust_env,
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
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:  # one byte more than the parser takes
                        break
                return Answer(response.status, response.headers, body)
        except aiohttp.ClientConnectorCertificateError as error:
            raise certificate_error(settings, error) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise TransportError(aiohttp_failure(error), f"{type(error).__name__}: {error}") from None

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Wait):
            return await asyncio.sleep(step.seconds)
        if isinstance(step, Call):  # a send-ledger read or write: blocking, so off the event loop
            return await asyncio.to_thread(step.function)
        return await self._transfer(step)

    async def run_steps(self, steps: Steps[Any]) -> Any:
        """Drive a core generator (an API call or a delivery) over this hook's session."""
        return await adrive(steps, self._perform)

    async def _deliver_message(self, message: VoiceCall | SmsMessage, **options: Any) -> DeliveryReport:
        return await self.deliver(message.prepare(await self.get_settings()), **options)
