"""
What a ``taqnyat`` connection means: base URL, token and extras, checked once and up front.

Pure: the hooks hand in the connection's fields, so the same rules serve the sync hook, the async
hook, ``airflow connections test`` and the tests. Every bad setting fails here, before any request,
with an error that names the field as the connection form labels it and the bad value (never the
token). The rules that matter most:

- The Bearer token never travels in clear text to anything but loopback: plain ``http://`` is
  accepted only for a loopback API base URL (the sandbox, a local TLS forwarder), and then only
  with no proxy or a loopback one. An ``https://`` base URL may use an ``http://`` proxy, which only
  tunnels the encrypted connection (CONNECT).
- Nothing is taken from the worker's environment (``HTTPS_PROXY``, CA variables) unless the
  connection's ``trust_env`` switch says so, and never for a plain-http base URL; a ``.netrc``
  never (see :mod:`~taqnyat_provider.hooks.network_route`).
- Certificates are verified unless the connection says otherwise, and then every use warns.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from taqnyat_provider.core.errors import TaqnyatConfigurationError

CONN_TYPE = "taqnyat"
DEFAULT_CONN_ID = "taqnyat_default"
DEFAULT_BASE_URL = "https://api.taqnyat.sa"
DEFAULT_TIMEOUT_SECONDS = 30.0

FIELD_LABELS = {
    "host": "API base URL",
    "port": "Port",
    "password": "Bearer token",
    "timeout": "Timeout (seconds)",
    "caller_id": "Default caller ID",
    "sender": "Default SMS sender",
    "allow_insecure_tls": "Allow insecure TLS (skip certificate verification)",
    "ca_bundle": "CA bundle path",
    "proxies": "Proxies",
    "trust_env": "Use proxy and CA settings from the worker's environment",
    "verify": "Verify TLS",
}
"""How the connection form labels each field (``get_provider_info``); errors name fields so."""

EXTRA_NAMES = (
    "timeout",
    "caller_id",
    "sender",
    "allow_insecure_tls",
    "ca_bundle",
    "proxies",
    "trust_env",
    "verify",
)
"""The extras this provider reads; ``verify`` is the older form of the two TLS fields."""

PROXY_SCHEMES = ("http", "https")
"""
Proxy URL schemes both transports can use. SOCKS is not among them: ``requests`` needs PySocks and
``aiohttp`` cannot use it at all, so a SOCKS proxy would fail only at send time, after the
request's fate became unclear.
"""
PROXY_KEYS = ("http", "https", "all")
"""Which requests a proxy serves: those to an http or an https base URL, or all."""

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_LEGACY_PREFIX = f"extra__{CONN_TYPE}__"  # how Airflow 2's form once stored extras
_HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_\-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_\-]*[a-z0-9_])?)*\.?")
_CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer")


@dataclass(frozen=True)
class ConnectionSettings:
    """
    A connection's checked settings.

    ``verify`` is the effective TLS setting as ``requests`` takes it: True (the system's CAs), a CA
    bundle path, or False (from ``allow_insecure_tls`` or the older ``verify`` extra). ``trust_env``
    is whether proxies and CA settings may come from the environment (never ``.netrc``).
    ``warnings`` are what the hooks log at every use (certificate checks off, ignored settings).
    """

    base_url: str
    token: str | None = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    caller_id: str | None = None
    sender: str | None = None
    verify: bool | str = True
    proxies: dict[str, str] = field(default_factory=dict, repr=False)  # may hold proxy credentials
    trust_env: bool = False
    warnings: tuple[str, ...] = ()

    def require_token(self) -> str:
        if not self.token:
            raise TaqnyatConfigurationError(
                "The taqnyat connection has no Bearer token: put the token from the Taqnyat "
                "account (Developer > Application) in the connection's password field"
            )
        return self.token

    def url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint.lstrip('/')}"


def _named(name: str) -> str:
    """A field as a person finds it: the form's label, and for an extra its key in the Extra JSON."""
    label = FIELD_LABELS.get(name, name)
    return f"{label} ('{name}' extra)" if name in EXTRA_NAMES else label


ENVIRONMENT = "environment:"
"""Marks a setting's name as something the worker's environment gave (``environment:HTTPS_PROXY``)."""


def _error(name: str, problem: str) -> TaqnyatConfigurationError:
    if name.startswith(ENVIRONMENT):  # read from the worker because of trust_env
        return TaqnyatConfigurationError(
            f"The worker's {name.removeprefix(ENVIRONMENT)} (used because the taqnyat connection's "
            f"{_named('trust_env')} is on) {problem}; nothing was sent"
        )
    return TaqnyatConfigurationError(f"The taqnyat connection's {_named(name)} {problem}")


def _has_control_or_space(text: str) -> bool:
    return any(char.isspace() or not char.isprintable() for char in text)


# --------------------------------------------------------------------------------------------------
# Host, schema and port


def is_loopback_host(hostname: str | None) -> bool:
    """Whether a host is loopback: ``localhost`` itself or a literal loopback IP, nothing that resolves."""
    if not hostname:
        return False
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_port(value: Any) -> int | None:
    """The Port field: empty, None or 0 (what Airflow 3's form sends for an empty port) mean no port."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _error("port", f"must be a whole number from 1 to 65535 or empty, got {value!r:.100}")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise _error("port", f"must be a whole number from 1 to 65535 or empty, got {value!r:.100}")
    port = int(text)
    if port == 0:
        return None
    if port > 65535:
        raise _error("port", f"must be a whole number from 1 to 65535 or empty, got {value!r:.100}")
    return port


def _url_port(parts: SplitResult, name: str, shown: str) -> int | None:
    """The port a URL names, refusing one that is not a number from 1 to 65535."""
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise _error(name, f"has a port that is not a number from 1 to 65535: {shown!r}")
    return port


def _check_hostname(hostname: str, name: str, shown: str) -> None:
    if hostname.startswith("[") or ":" in hostname:
        try:
            ipaddress.IPv6Address(hostname.strip("[]").split("%", 1)[0])
        except ValueError:
            raise _error(name, f"has an invalid IPv6 address: {shown!r}") from None
        return
    if hostname.isascii():
        if not _HOSTNAME.fullmatch(hostname):
            raise _error(name, f"has an invalid host name: {shown!r}")
        return
    try:
        hostname.encode("idna")
    except UnicodeError:
        raise _error(name, f"has an invalid host name: {shown!r}") from None


def _base_url(host: str | None, schema: str | None, port: Any) -> tuple[str, list[str]]:
    """The base URL and any warning about it (a Port field that the URL's own port overrides)."""
    field_port = _read_port(port)
    host = (host or "").strip()
    if _has_control_or_space(host):
        raise _error("host", f"contains a space or a control character: {host!r:.200}")
    if not host:
        host = DEFAULT_BASE_URL
    if "://" not in host:
        scheme = (schema or "https").strip().lower()
        if scheme not in ("http", "https"):
            raise TaqnyatConfigurationError(
                f"The taqnyat connection's schema {schema!r:.50} is not http or https; leave it empty "
                "and write the scheme in the API base URL"
            )
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise _error("host", f"is not an http(s) URL: {host!r:.200}")
    if parts.username is not None or parts.password is not None:
        raise _error("host", "must not carry credentials: put the token in the Bearer token field")
    if parts.query or parts.fragment or "?" in host or "#" in host:
        raise _error("host", f"must not carry a query or a fragment: {scheme}://{parts.hostname}")
    _check_hostname(parts.hostname, "host", f"{scheme}://{parts.netloc}")
    url_port = _url_port(parts, "host", f"{scheme}://{parts.netloc}")
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise TaqnyatConfigurationError(
            f"Refusing plain http:// for {parts.hostname}: the Bearer token would travel in clear text. "
            "Use https:// (plain http is allowed only for loopback, e.g. the sandbox)"
        )
    warnings = []
    effective_port = url_port
    if url_port is None:
        effective_port = field_port
    elif field_port is not None and field_port != url_port:
        warnings.append(
            f"The taqnyat connection's Port {field_port} is not used: its API base URL names port {url_port}"
        )
    hostname = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = 443 if scheme == "https" else 80
    netloc = hostname if effective_port in (None, default_port) else f"{hostname}:{effective_port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}", warnings


def build_base_url(host: str | None, schema: str | None = None, port: Any = None) -> str:
    """
    The API base URL from the connection's host, schema and port, without a trailing slash.

    An empty host means the real service. A host may carry its own scheme and port; the scheme's
    default port is left out (``https://api.taqnyat.sa:443`` is ``https://api.taqnyat.sa``).
    """
    return _base_url(host, schema, port)[0]


# --------------------------------------------------------------------------------------------------
# Extras


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    """An extra's value, also under the prefixed key that Airflow 2's form once used."""
    value = extra.get(name)
    return extra.get(_LEGACY_PREFIX + name) if value is None else value


def _read_switch(value: Any, name: str) -> bool | None:
    """A yes/no extra: a JSON boolean or its words; None when absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _error(name, f"must be true or false, got {value!r:.100}")


def _read_timeout(value: Any) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_TIMEOUT_SECONDS
    timeout = math.nan
    # A boolean is no number of seconds (float(True) would be one second).
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            timeout = float(value)
    if not (math.isfinite(timeout) and timeout > 0):
        raise _error("timeout", f"must be a positive number of seconds, got {value!r:.100}")
    return timeout


def _looks_like_a_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.lower().endswith(_CERTIFICATE_SUFFIXES)


def _read_path(value: Any, name: str) -> str | None:
    """A CA bundle path: checked for its form only (the file is on the workers, not here)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise _error(name, f"must be the path of a PEM file, got {value!r:.100}")
    path = value.strip()
    if any(not char.isprintable() for char in path):
        raise _error(name, f"contains a control character: {path!r:.200}")
    if not _looks_like_a_path(path):
        raise _error(
            name,
            f"must be the path of a PEM file such as /etc/ssl/certs/company-ca.pem, got {path!r:.200}",
        )
    if path.startswith("~"):
        raise _error(name, f"starts with ~, which is not expanded: give the full path, got {path!r:.200}")
    return path


def _read_verify(value: Any) -> bool | str | None:
    """The older ``verify`` extra: true, false or a CA bundle path; None when absent (verify)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        if _looks_like_a_path(text):
            return _read_path(text, "verify")
        if text.lower() not in _TRUE | _FALSE:
            # "ture" is a typo, not a file name: refused here rather than as an OSError at send time.
            raise _error(
                "verify",
                f"must be true, false or the path of a CA bundle (.pem, .crt or .cer), got {value!r:.100}",
            )
    return _read_switch(value, "verify")


def _read_tls(extra: Mapping[str, Any], base_url: str) -> tuple[bool | str, list[str]]:
    """The effective ``verify`` from ``allow_insecure_tls``, ``ca_bundle`` and the older ``verify``."""
    insecure = _read_switch(_extra(extra, "allow_insecure_tls"), "allow_insecure_tls") or False
    ca_bundle = _read_path(_extra(extra, "ca_bundle"), "ca_bundle")
    legacy = _read_verify(_extra(extra, "verify"))
    legacy_path = legacy if isinstance(legacy, str) else None
    if insecure and (ca_bundle or legacy_path):
        raise TaqnyatConfigurationError(
            f"The taqnyat connection both skips certificate verification ({_named('allow_insecure_tls')}) "
            f"and names a CA bundle to verify with ({_named('ca_bundle' if ca_bundle else 'verify')}): "
            "keep one"
        )
    if insecure and legacy is True:
        raise TaqnyatConfigurationError(
            f"The taqnyat connection's {_named('allow_insecure_tls')} is on but its {_named('verify')} "
            "is true: remove the 'verify' extra"
        )
    if legacy is False and ca_bundle:
        raise TaqnyatConfigurationError(
            f"The taqnyat connection's {_named('verify')} is false but it names a {_named('ca_bundle')}: keep one"
        )
    if ca_bundle and legacy_path and ca_bundle != legacy_path:
        raise TaqnyatConfigurationError(
            f"The taqnyat connection names two CA bundles, {ca_bundle!r} ({_named('ca_bundle')}) and "
            f"{legacy_path!r} ({_named('verify')}): keep one"
        )
    if insecure or legacy is False:
        source = "allow_insecure_tls" if insecure else "verify"
        return False, [
            f"TLS certificates are NOT verified for {base_url} (the taqnyat connection's {_named(source)}): "
            "anyone between this worker and the server can read the Bearer token and the messages"
        ]
    return ca_bundle or legacy_path or True, []


def _shown_proxy(url: str) -> str:
    """
    A proxy URL as errors show it: never what comes before its last ``@`` (the user info, whatever
    characters the password has), at most 100 characters.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "(no scheme)"
    if "@" in rest:
        rest = "…@" + rest.rsplit("@", 1)[1]
    return f"{scheme.lower()}://{rest}"[:100]


def _proxy_url(value: Any, key: str, name: str = "proxies") -> str:
    """
    One proxy URL, checked; errors never show its user info (it may hold a password). ``name`` is
    where it came from: the ``proxies`` extra, or an environment variable.
    """
    if not isinstance(value, str):
        raise _error(name, f"must map schemes to proxy URLs, but {key!r} maps to {value!r:.100}")
    url = value.strip()
    if _has_control_or_space(url):
        raise _error(name, f"has a proxy URL with a space or a control character (for {key!r})")
    shown = _shown_proxy(url)
    encode_hint = " (in a password, write / ? # @ [ ] percent-encoded)" if "@" in url else ""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. a "[" in the password
        raise _error(name, f"has a proxy for {key!r} that is not a valid URL: {shown}{encode_hint}") from None
    scheme = parts.scheme.lower()
    if "://" not in url or scheme not in PROXY_SCHEMES or not hostname:
        raise _error(
            name,
            f"has a proxy for {key!r} that is not an http:// or https:// URL such as "
            f"http://proxy.internal:3128, got {shown}",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _error(
            name, f"has a proxy URL for {key!r} with a path, query or fragment: {shown}{encode_hint}"
        )
    _check_hostname(hostname, name, shown)
    _url_port(parts, name, shown)
    return url


def check_environment_proxy(url: str, key: str, source: str) -> str:
    """
    A proxy URL the worker's environment gives for ``key`` (``https``, ``http`` or ``all``), held to
    the rules of the ``proxies`` extra (an ``http://`` or ``https://`` URL with a host, a valid port);
    the error names ``source`` (``HTTPS_PROXY environment variable``...) and shows no password.
    """
    return _proxy_url(url, key, ENVIRONMENT + source)


def _read_proxies(value: Any) -> dict[str, str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise _error(
                    "proxies", 'is not valid JSON: write it like {"https": "http://proxy.internal:3128"}'
                ) from None
        else:
            return {"http": _proxy_url(text, "http"), "https": _proxy_url(text, "https")}
    if not isinstance(value, Mapping):
        raise _error(
            "proxies",
            'must map schemes to proxy URLs, e.g. {"https": "http://proxy.internal:3128"}, or be one proxy '
            f"URL, got {type(value).__name__}",
        )
    proxies = {}
    for key, url in value.items():
        scheme = str(key).strip().lower()
        if scheme not in PROXY_KEYS:
            raise _error("proxies", f"has the key {str(key)!r:.50}; the keys are http, https and all")
        if url is None or (isinstance(url, str) and not url.strip()):
            continue
        proxies[scheme] = _proxy_url(url, scheme)
    return proxies


def _check_proxies_for(base_url: str, proxies: Mapping[str, str]) -> None:
    """A plain-http base URL carries the token in clear text: only a loopback proxy may see it."""
    if not base_url.startswith("http://"):
        return
    for url in proxies.values():
        hostname = urlsplit(url).hostname
        if not is_loopback_host(hostname):
            raise TaqnyatConfigurationError(
                f"Refusing the proxy {hostname} for the plain-http API base URL {base_url}: the Bearer "
                "token would travel in clear text to another host. Use an https:// API base URL, a "
                "loopback proxy, or no proxy"
            )


def _read_optional_text(value: Any) -> Any:
    """None for an absent or empty extra; anything else as given, for its own check to judge."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _read_caller_id(value: Any) -> str | None:
    from taqnyat_provider.core.recipients import normalize_caller_id

    value = _read_optional_text(value)
    if value is None:
        return None
    try:
        return normalize_caller_id(value)
    except TaqnyatConfigurationError as error:
        raise _error("caller_id", f"is not a valid phone number: {error}") from None


def _read_sender(value: Any) -> str | None:
    from taqnyat_provider.core.sms_text import check_sender

    value = _read_optional_text(value)
    if value is None:
        return None
    try:
        return check_sender(value)
    except TaqnyatConfigurationError as error:
        raise _error("sender", f"is not a valid sender name: {error}") from None


def _read_token(password: str | None) -> str | None:
    """The token, refused (without being shown) when it cannot go in an HTTP header as it is."""
    if password is None:
        return None
    if not isinstance(password, str):
        raise _error("password", f"must be text, got {type(password).__name__}")
    token = password.strip()
    if not token:
        return None
    problem = None
    if any(char in "\r\n" for char in token):
        problem = "contains a line break"
    elif any(char.isspace() for char in token):
        problem = "contains a space"
    elif not token.isascii():
        problem = "contains a character that is not ASCII (a typographic quote or dash, say)"
    elif not token.isprintable():
        problem = "contains a control character"
    if problem:
        raise _error(
            "password",
            f"{problem}, which cannot be sent in an HTTP header: copy the token again from the Taqnyat "
            "account (Developer > Application). The token is not shown here",
        )
    return token


def settings_from_connection(
    *,
    host: str | None,
    schema: str | None,
    port: Any,
    password: str | None,
    extra: Mapping[str, Any] | None,
) -> ConnectionSettings:
    """Check every field of a connection and return what it means; the one place that reads them."""
    if extra is None:
        extra = {}
    if not isinstance(extra, Mapping):
        raise TaqnyatConfigurationError(
            f"The taqnyat connection's Extra must be a JSON object, got {type(extra).__name__}"
        )
    token = _read_token(password)
    base_url, warnings = _base_url(host, schema, port)
    verify, tls_warnings = _read_tls(extra, base_url)
    warnings += tls_warnings
    proxies = _read_proxies(_extra(extra, "proxies"))
    _check_proxies_for(base_url, proxies)
    trust_env = _read_switch(_extra(extra, "trust_env"), "trust_env") or False
    if trust_env and not base_url.startswith("https://"):
        trust_env = False
        warnings.append(
            f"The taqnyat connection's {_named('trust_env')} is ignored for the plain-http API base URL "
            f"{base_url}: no proxy from the environment may see its token"
        )
    known = set(EXTRA_NAMES) | {_LEGACY_PREFIX + name for name in EXTRA_NAMES}
    unknown = sorted(str(key) for key in extra if key not in known)
    if unknown:
        warnings.append(
            f"The taqnyat connection's Extra has keys this provider does not read: {', '.join(map(repr, unknown))} "
            f"(it reads {', '.join(EXTRA_NAMES)})"
        )
    return ConnectionSettings(
        base_url=base_url,
        token=token,
        timeout=_read_timeout(_extra(extra, "timeout")),
        caller_id=_read_caller_id(_extra(extra, "caller_id")),
        sender=_read_sender(_extra(extra, "sender")),
        verify=verify,
        proxies=proxies,
        trust_env=trust_env,
        warnings=tuple(warnings),
    )
