"""
What both hooks share below the core: reading the connection, the headers, and what a ``requests``
or ``aiohttp`` failure means for a request (did it reach the server?).

Importing this module loads neither HTTP library: the sync hook brings ``requests`` and the async
hook ``aiohttp`` (off the event loop, see :mod:`~taqnyat_provider.hooks.taqnyat_async`), and a
triggerer that only runs the status trigger never loads ``requests`` at all.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow.providers.common.compat.sdk import mask_secret

from taqnyat_provider import __version__
from taqnyat_provider.core.connection_settings import ConnectionSettings, settings_from_connection
from taqnyat_provider.core.delivery import Delivery, DeliveryReport
from taqnyat_provider.core.endpoints.sms_delete import DELETE_SMS_ENDPOINT
from taqnyat_provider.core.errors import InvalidInputError, TaqnyatConfigurationError
from taqnyat_provider.core.ledger import Ledger
from taqnyat_provider.core.retry import RetryPolicy, exchange
from taqnyat_provider.core.sending import PreparedSend
from taqnyat_provider.core.steps import Answer, Failure, Request, Steps
from taqnyat_provider.hooks.network_route import Route

if TYPE_CHECKING:
    import requests

BASE_HEADERS = {"Accept": "application/json", "User-Agent": f"airflow-provider-taqnyat/{__version__}"}
CHUNK_BYTES = 64 * 1024
DEADLINE_FACTOR = 2
"""
Each request of either hook ends within this many times the connection's ``timeout``, answer body
included; the connect (TLS handshake included) and each wait for a byte are bounded by ``timeout``.
"""


def policy_or_default(policy: RetryPolicy | None) -> RetryPolicy:
    from taqnyat_provider.core import retry

    return policy or retry.DEFAULT_RETRY_POLICY


def read_settings(conn: Any, extra: dict[str, Any]) -> ConnectionSettings:
    settings = settings_from_connection(
        host=conn.host, schema=conn.schema, port=conn.port, password=conn.password, extra=extra
    )
    # Airflow masks the password itself; a token trimmed of whitespace is a new string to mask,
    # and so is a password inside a proxy URL.
    if settings.token and settings.token != conn.password:
        mask_secret(settings.token)
    for proxy in settings.proxies.values():
        _mask_credentials(proxy)
    return settings


def _credential_forms(proxy: str | None) -> list[str]:
    """
    Every spelling of a proxy URL's user info that an HTTP library may print: as written, and
    percent-decoded (yarl decodes it), the password alone and with its user. Longest first.
    """
    parts = urlsplit(proxy) if proxy else None
    if parts is None or "@" not in parts.netloc:
        return []
    user_info = parts.netloc.rpartition("@")[0]
    user, _, password = user_info.partition(":")
    forms = {user_info, unquote(user_info), f"{unquote(user)}:{unquote(password)}"}
    forms |= {password, unquote(password)} if password else {user, unquote(user)}
    return sorted((form for form in forms if form), key=len, reverse=True)


def _mask_credentials(proxy: str | None) -> None:
    parts = urlsplit(proxy) if proxy else None
    password = parts.password if parts else None
    if password:
        for form in {password, unquote(password)}:
            mask_secret(form)


def mask_proxy_password(route: Route) -> None:
    """Mask the password of the proxy a route uses, in each spelling: one from the environment is new."""
    _mask_credentials(route.proxy)


def shown_proxy(proxy: str) -> str:
    """A proxy as messages name it: scheme, host and port, never what comes before the ``@``."""
    parts = urlsplit(proxy)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: ([0-9]{3}[ -~]{0,60})")


def _proxy_reason(error: BaseException) -> str:
    """What a proxy failure was, from the error's parts, never from its text about the URL."""
    status = getattr(error, "status", None)  # aiohttp's ClientHttpProxyError
    if isinstance(status, int) and not isinstance(status, bool):
        return f"the proxy answered HTTP {status}"
    seen: list[BaseException] = [error]
    for current in seen[:12]:
        if isinstance(current, OSError):
            refused = _TUNNEL_REFUSED.search(str(current.args[0]) if current.args else "")
            if refused:
                return f"the proxy answered HTTP {refused.group(1).strip()}"
        nested = [getattr(current, name, None) for name in ("reason", "original_error", "os_error")]
        nested += [current.__cause__, current.__context__, *current.args]
        seen += [inner for inner in nested if isinstance(inner, BaseException) and inner not in seen]
    errors = [inner for inner in seen if isinstance(inner, OSError) and inner.strerror]
    return str(errors[-1].strerror) if errors else "no answer"


def failure_detail(error: BaseException, proxy: str | None) -> str:
    """
    What a transport error says, for logs and errors. Through a proxy, the hook's own words (the
    error's type, the proxy's answer, the proxy's scheme, host and port): an HTTP library prints the
    proxy's URL, user info included, percent-decoded or not. Every spelling of the user info is
    taken out of whatever text remains, too.
    """
    if proxy:
        detail = f"{type(error).__name__}: {_proxy_reason(error)} (through the proxy {shown_proxy(proxy)})"
    else:
        detail = f"{type(error).__name__}: {error}"
    for form in _credential_forms(proxy):
        detail = detail.replace(form, "***")
    return detail


def auth_headers(settings: ConnectionSettings, request: Request) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.require_token()}"} if request.authenticated else {}


def certificate_error(settings: ConnectionSettings, error: BaseException) -> TaqnyatConfigurationError:
    return TaqnyatConfigurationError(
        f"The TLS certificate of {settings.base_url} is not trusted ({type(error).__name__}); nothing was "
        "sent. Set the connection's CA bundle, or fix the certificate"
    )


def is_certificate_error(error: BaseException | None, depth: int = 0) -> bool:
    """Whether a certificate check failed somewhere in the chain: the handshake, before any request."""
    if error is None or depth > 6:
        return False
    if isinstance(error, ssl.SSLCertVerificationError):
        return True
    # urllib3 errors keep the cause in ``reason``; an ssl.SSLError's ``reason`` is a string.
    nested = [getattr(error, "reason", None), error.__cause__, error.__context__]
    nested = [inner for inner in nested if isinstance(inner, BaseException)]
    nested += [arg for arg in error.args if isinstance(arg, BaseException)]
    return any(is_certificate_error(inner, depth + 1) for inner in nested)


def requests_failure(error: requests.RequestException) -> Failure:
    import requests

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return Failure.NOT_CONNECTED
    if isinstance(error, requests.exceptions.Timeout):
        return Failure.TIMED_OUT
    if isinstance(error, requests.exceptions.ConnectionError) and not isinstance(
        error, requests.exceptions.SSLError
    ):
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProxyError

        reason = getattr(error.args[0], "reason", None) if error.args else None
        # urllib3 wraps an error as ProxyError only before it has connected to the proxy; its
        # original error says whether that was the TCP connect (nothing sent). This holds because
        # the hook's session keeps requests' default adapter, whose urllib3 retries are off: no
        # earlier attempt can hide behind the error that surfaces.
        if isinstance(reason, ProxyError):
            reason = getattr(reason, "original_error", None)
            # The proxy answered CONNECT with 407, 403, 502...: the tunnel to the API never opened.
            if isinstance(reason, OSError) and str(reason).startswith("Tunnel connection failed"):
                return Failure.NOT_CONNECTED
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return Failure.NOT_CONNECTED
    # Any other TLS or connection error may come after the server read the request.
    return Failure.DROPPED


def aiohttp_failure(error: BaseException) -> Failure:
    import aiohttp

    # ClientConnectorError (SSL handshake included) is raised before a byte of the request is sent,
    # and ClientHttpProxyError when the proxy refuses the CONNECT tunnel (407, 403, 502...).
    if isinstance(
        error,
        (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.ClientHttpProxyError),
    ):
        return Failure.NOT_CONNECTED
    if isinstance(error, asyncio.TimeoutError):
        return Failure.TIMED_OUT
    return Failure.DROPPED


class NotOffered:
    """
    A method a base class lends that this hook does not offer: reading it raises ``AttributeError``.

    So ``hasattr(hook, name)`` is False, and a call says why and what to use instead.
    """

    def __init__(self, instead: str) -> None:
        self.instead = instead
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        raise AttributeError(
            f"{(owner or type(instance)).__name__} does not offer {self.name}(): it would go around the "
            f"retry rules, the send ledger and the token handling; {self.instead}"
        )


OTHER_WRITES = frozenset({("DELETE", DELETE_SMS_ENDPOINT.strip("/").lower())})
"""The API's one write that calls or texts nobody; every other write is a send."""


def _path(endpoint: str) -> str:
    """The path a request to ``endpoint`` reaches, as a server reads it: decoded, slashes and dots folded."""
    path = unquote(urlsplit(endpoint.strip()).path)
    return posixpath.normpath("/" + re.sub("/+", "/", path)).strip("/").lower()


def refuse_unkept_send(method: str, endpoint: str) -> None:
    """
    ``request()`` and ``run()`` read (GET) and cancel a scheduled SMS; any other write could call or
    text people with no send ledger, however its path is spelled: refused, before anything is sent.
    """
    verb = method.strip().upper()
    if verb != "GET" and (verb, _path(endpoint)) not in OTHER_WRITES:
        raise InvalidInputError(
            f"{method!r} {endpoint!r}: request() and run() only read (GET) and cancel a scheduled SMS "
            "(DELETE v1/messages/delete); send through place_voice_calls(), send_sms() or deliver(), "
            "which keep the send ledger"
        )


class TaqnyatCalls:
    """
    What both hooks' public calls share: the retry policy, and each call as core steps.

    A hook's public method builds one core generator (:mod:`taqnyat_provider.core.endpoints`,
    :mod:`taqnyat_provider.core.delivery`) and drives it over its session; the sync hook returns the
    result and the async hook awaits it, each method typed in its own hook.
    """

    retry_policy: RetryPolicy | None
    log: Any

    @property
    def policy(self) -> RetryPolicy:
        return policy_or_default(self.retry_policy)

    def _request_steps(
        self,
        method: str,
        endpoint: str,
        json: dict[str, Any] | None,
        params: dict[str, Any] | None,
        authenticated: bool,
    ) -> Steps[Answer]:
        refuse_unkept_send(method, endpoint)
        return exchange(Request(method, endpoint, json, params, authenticated), self.policy, self.log)

    def _delivery_steps(
        self, prepared: PreparedSend, batch_size: int, ledger: Ledger | None, on_unknown: str
    ) -> Steps[DeliveryReport]:
        delivery = Delivery(
            prepared, batch_size, ledger=ledger, on_unknown=on_unknown, policy=self.policy, log=self.log
        )
        return delivery.steps()
