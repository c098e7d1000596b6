"""
The asyncio twin of :class:`~taqnyat_provider.hooks.taqnyat.TaqnyatHook`, on ``aiohttp``.

Its users run on an event loop that others share (the triggerer's, a deadline callback's), so the
first use must not stall it: importing this module loads no HTTP library, and the first awaited
call loads ``aiohttp``, Airflow's async connection helpers and ``phonenumbers`` in a worker thread
(:func:`load_async_stack`) while the loop goes on serving everyone else.

With the connection's ``trust_env`` on, it reads the environment as the sync hook's ``requests``
session does, for what the connection leaves unset, and nothing else: the proxy (``HTTPS_PROXY``,
``ALL_PROXY``, ``NO_PROXY``) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``), worked
out once per hook in a worker thread (:func:`network_route`). Never a ``.netrc``: the ``aiohttp``
session itself never trusts the environment, which would add a ``.netrc`` entry's login and
password to each request (and refuse each request that carries the Bearer header).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import os
import socket
import ssl
import sys
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import BaseHook

from taqnyat_provider.connection_settings import CONN_TYPE, DEFAULT_CONN_ID, ConnectionSettings
from taqnyat_provider.exceptions import TaqnyatConfigurationError
from taqnyat_provider.hooks.transport import (
    BASE_HEADERS,
    CHUNK_BYTES,
    TaqnyatCalls,
    aiohttp_failure,
    auth_headers,
    certificate_error,
    read_settings,
)
from taqnyat_provider.responses import MAX_BODY_BYTES
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

if TYPE_CHECKING:
    import aiohttp

    from taqnyat_provider.delivery import DeliveryReport
    from taqnyat_provider.messages import SmsMessage, VoiceCall
    from taqnyat_provider.retry import RetryPolicy

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


def _import_stack() -> None:
    for name in ASYNC_STACK:
        importlib.import_module(name)
    for name in AIRFLOW_LOOKUP_STACK:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _imported(name: str) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)


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
    if not all(_imported(name) for name in ASYNC_STACK):
        await asyncio.to_thread(_import_stack)
    _stack_loaded = True


CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""The CA bundle variables ``requests`` reads, in its order; the async hook reads them the same way."""


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address as ``inet_aton`` reads it (``requests`` does), or None."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def _ipv4_network(text: str) -> ipaddress.IPv4Network | None:
    """A ``NO_PROXY`` entry such as ``10.0.0.0/8`` as ``requests`` reads it (mask 1 to 32), or None."""
    if text.count("/") != 1:
        return None
    address, bits = text.split("/")
    try:
        mask = int(bits)
    except ValueError:
        return None
    base = _ipv4(address)
    if base is None or not 1 <= mask <= 32:
        return None
    return ipaddress.IPv4Network((base, mask), strict=False)


def bypasses_environment_proxies(url: str) -> bool:
    """
    Whether ``NO_PROXY`` (``no_proxy``) exempts ``url`` from the environment's proxies: the rules
    of ``requests.utils.should_bypass_proxies``, without importing ``requests``. An IPv4 host
    matches an address or a CIDR network, any other host a name or a domain suffix (with or without
    the port); then the standard library's own check (``*``, the platform's settings).
    """
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    parts = urlsplit(url)
    hostname = parts.hostname
    if hostname is None:
        return True
    if no_proxy:
        entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
        address = _ipv4(hostname)
        if address is not None:
            for entry in entries:
                network = _ipv4_network(entry)
                if (address in network) if network is not None else hostname == entry:
                    return True
        else:
            host_with_port = f"{hostname}:{parts.port}" if parts.port else hostname
            for entry in entries:
                entry = entry.lstrip(".")
                if entry in (hostname, host_with_port):
                    return True
                if hostname.endswith("." + entry) or host_with_port.endswith("." + entry):
                    return True
    try:
        return bool(urllib.request.proxy_bypass(hostname))  # type: ignore[attr-defined]
    except (TypeError, socket.gaierror):
        return False


def _select_proxy(url: str, proxies: Mapping[str, str]) -> str | None:
    """``requests.utils.select_proxy``: scheme and host, scheme, ``all`` and host, ``all``."""
    parts = urlsplit(url)
    keys = [f"{parts.scheme}://{parts.hostname}", parts.scheme, f"all://{parts.hostname}", "all"]
    proxy = next((proxies[key] for key in keys if key in proxies), None)
    if proxy and "://" not in proxy:
        proxy = "http://" + proxy  # as requests reads "proxy:3128"
    return proxy


def network_route(settings: ConnectionSettings) -> tuple[str | None, bool | str]:
    """
    The proxy (None: straight to the host) and the TLS verification (True, False or a CA bundle
    path) for the API base URL. No credentials are read, and nothing from a ``.netrc``.

    The connection's own ``proxies``, ``ca_bundle`` and ``allow_insecure_tls`` come first. With
    ``trust_env`` on, the environment fills in what they leave unset, as the sync hook's
    ``requests`` session reads it: a proxy from ``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY``
    unless ``NO_PROXY`` exempts the API's host, and the CA bundle named by ``REQUESTS_CA_BUNDLE``
    or ``CURL_CA_BUNDLE``. (``requests`` also lets the environment replace what the connection
    sets; this hook does not.) On macOS and Windows the environment includes the system's proxy
    settings, which may take a while to read: call it off the event loop.
    """
    proxy = _select_proxy(settings.base_url, settings.proxies)
    verify = settings.verify
    if settings.trust_env:
        if proxy is None and not bypasses_environment_proxies(settings.base_url):
            proxy = _select_proxy(settings.base_url, urllib.request.getproxies())  # type: ignore[attr-defined]
        if verify is True:
            verify = next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), True)
    return proxy, verify


def request_options(settings: ConnectionSettings) -> dict[str, Any]:
    """
    What every request of an async hook passes besides the call itself: the proxy and TLS of
    :func:`network_route`, with a CA bundle loaded (blocking: it reads the file), and no redirects.
    """
    proxy, verify = network_route(settings)
    tls: bool | ssl.SSLContext
    if isinstance(verify, str):
        try:
            tls = ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as error:
            raise TaqnyatConfigurationError(
                f"The CA bundle {verify!r} cannot be read ({type(error).__name__}: {error}); nothing was sent"
            ) from None
    else:
        tls = verify
    return {"ssl": tls, "proxy": proxy, "allow_redirects": False}


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

    async def get_conn(self) -> aiohttp.ClientSession:
        """The hook's one session (created on first use, inside the running event loop)."""
        if self._session is None or self._session.closed:
            settings = await self.get_settings()
            import aiohttp

            # Never trust_env here: aiohttp would add a .netrc entry's credentials to each request.
            # The environment's proxy and CA bundle come from request_options instead.
            self._session = aiohttp.ClientSession(
                headers=BASE_HEADERS,
                timeout=aiohttp.ClientTimeout(total=settings.timeout),
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
        session = await self.get_conn()
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
            raise TransportError(aiohttp_failure(error), f"{type(error).__name__}: {error}") from None

    async def _perform(self, step: Step) -> Any:
        if isinstance(step, Wait):
            return await asyncio.sleep(step.seconds)
        if isinstance(step, Call):  # a send-ledger read or write: off the event loop if it blocks
            return await asyncio.to_thread(step.function) if step.blocking else step.function()
        return await self._transfer(step)

    async def run_steps(self, steps: Steps[Any]) -> Any:
        """Drive a core generator (an API call or a delivery) over this hook's session."""
        return await adrive(steps, self._perform)

    async def _deliver_message(self, message: VoiceCall | SmsMessage, **options: Any) -> DeliveryReport:
        return await self.deliver(message.prepare(await self.get_settings()), **options)
