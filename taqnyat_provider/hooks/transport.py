"""
What both hooks share below the core: reading the connection, the headers, and what a ``requests``
or ``aiohttp`` failure means for a request (did it reach the server?).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
import requests
from airflow.providers.common.compat.sdk import mask_secret

from taqnyat_provider import __version__
from taqnyat_provider.connection_settings import ConnectionSettings, settings_from_connection
from taqnyat_provider.exceptions import TaqnyatConfigurationError
from taqnyat_provider.retry import RetryPolicy
from taqnyat_provider.steps import Failure, Request

BASE_HEADERS = {"Accept": "application/json", "User-Agent": f"airflow-provider-taqnyat/{__version__}"}
CHUNK_BYTES = 64 * 1024


def policy_or_default(policy: RetryPolicy | None) -> RetryPolicy:
    from taqnyat_provider import retry

    return policy or retry.DEFAULT_RETRY_POLICY


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
    nested = [getattr(error, "reason", None), error.__cause__, error.__context__]
    nested += [arg for arg in error.args if isinstance(arg, BaseException)]
    return any(is_certificate_error(inner, depth + 1) for inner in nested)


def requests_failure(error: requests.RequestException) -> Failure:
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


def aiohttp_failure(error: BaseException) -> Failure:
    # ClientConnectorError (SSL handshake included) is raised before a byte of the request is sent.
    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return Failure.NOT_CONNECTED
    if isinstance(error, asyncio.TimeoutError):
        return Failure.TIMED_OUT
    return Failure.DROPPED


class NoAuth(requests.auth.AuthBase):
    """Keeps requests from replacing the Bearer header with credentials from a ``.netrc``."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request
