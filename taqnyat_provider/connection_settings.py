"""
What a ``taqnyat`` connection means: base URL, token and extras, checked once.

Pure: the hooks hand in the connection's fields, so the same rules serve the sync hook, the async
hook and the tests. The one rule that matters most: a Bearer token never travels in clear text,
so plain ``http://`` is accepted only for loopback (the sandbox).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from taqnyat_provider.exceptions import TaqnyatConfigurationError

CONN_TYPE = "taqnyat"
DEFAULT_CONN_ID = "taqnyat_default"
DEFAULT_BASE_URL = "https://api.taqnyat.sa"
DEFAULT_TIMEOUT_SECONDS = 30.0
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class ConnectionSettings:
    base_url: str
    token: str | None = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    caller_id: str | None = None
    sender: str | None = None
    verify: bool | str = True
    proxies: dict[str, str] = field(default_factory=dict)

    def require_token(self) -> str:
        if not self.token:
            raise TaqnyatConfigurationError(
                "The taqnyat connection has no Bearer token: put the token from the Taqnyat "
                "account (Developer > Application) in the connection's password field"
            )
        return self.token

    def url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint.lstrip('/')}"


def is_loopback_host(hostname: str | None) -> bool:
    if not hostname:
        return False
    if hostname.lower() == "localhost" or hostname.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def build_base_url(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """
    The API base URL from the connection's host, schema and port, without a trailing slash.

    An empty host means the real service. A host may carry its own scheme and port.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"{(schema or 'https').strip()}://{host}"
    parts = urlsplit(host)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise TaqnyatConfigurationError(f"The taqnyat connection's host {host!r} is not an http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise TaqnyatConfigurationError(
            f"The taqnyat connection's host {parts.scheme}://{parts.hostname} must not carry a query, "
            "fragment or credentials; put the token in the password field"
        )
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise TaqnyatConfigurationError(
            f"Refusing plain http:// for {parts.hostname}: the Bearer token would travel in clear text. "
            "Use https:// (plain http is allowed only for loopback, e.g. the sandbox)"
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _read_timeout(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_TIMEOUT_SECONDS
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = math.nan
    if not (math.isfinite(timeout) and timeout > 0):
        raise TaqnyatConfigurationError(
            f"The taqnyat connection's 'timeout' extra must be a positive number of seconds, got {value!r}"
        )
    return timeout


def _read_verify(value: Any) -> bool | str:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    return text  # a CA bundle path, as requests accepts


def _read_proxies(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"http": value, "https": value}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise TaqnyatConfigurationError(
            "The taqnyat connection's 'proxies' extra must map schemes to proxy URLs, "
            'e.g. {"https": "http://proxy:3128"}'
        )
    return {str(key): str(url) for key, url in value.items()}


def _read_optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def settings_from_connection(
    *,
    host: str | None,
    schema: str | None,
    port: int | None,
    password: str | None,
    extra: Mapping[str, Any] | None,
) -> ConnectionSettings:
    extra = extra or {}
    token = (password or "").strip() or None
    if token and any(char in token for char in "\r\n"):
        raise TaqnyatConfigurationError("The taqnyat connection's token contains a line break")
    return ConnectionSettings(
        base_url=build_base_url(host, schema, port),
        token=token,
        timeout=_read_timeout(extra.get("timeout")),
        caller_id=_read_optional_text(extra.get("caller_id")),
        sender=_read_optional_text(extra.get("sender")),
        verify=_read_verify(extra.get("verify")),
        proxies=_read_proxies(extra.get("proxies")),
    )
