"""
Where a request to the API goes: through which proxy, verified against which certificates.

The connection's own ``proxies``, ``ca_bundle`` and ``allow_insecure_tls`` come first; with its
``trust_env`` on, the worker's environment fills in what they leave unset, read as ``requests``
reads it (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``) and never a ``.netrc``. Both hooks and the audio check ask here and tell their
HTTP library to read nothing from the environment: ``requests`` would let the environment replace
the connection's settings, ``aiohttp`` would add a ``.netrc``'s credentials. A test holds this
module to what ``requests`` itself reads. No HTTP library (the standard library's ``ssl`` only).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from taqnyat_provider.core.connection_settings import ConnectionSettings, check_environment_proxy
from taqnyat_provider.core.errors import TaqnyatConfigurationError

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


def _select_proxy(url: str, proxies: Mapping[str, str]) -> tuple[str, str] | None:
    """
    ``requests.utils.select_proxy``: the first of scheme and host, scheme, ``all`` and host,
    ``all``, as (key, proxy URL). A proxy without a scheme is http, as curl reads ``proxy:3128``
    (``requests`` manages that only for an IP address).
    """
    parts = urlsplit(url)
    keys = [f"{parts.scheme}://{parts.hostname}", parts.scheme, f"all://{parts.hostname}", "all"]
    key = next((key for key in keys if proxies.get(key)), None)
    if key is None:
        return None
    proxy = proxies[key].strip()
    return key, proxy if "://" in proxy else "http://" + proxy


CONNECTION_CA = "taqnyat connection's CA bundle path ('ca_bundle' extra)"


@dataclass(frozen=True)
class Route:
    """How to reach one URL: through ``proxy`` (None: straight) and verified by ``verify``."""

    proxy: str | None
    verify: bool | str
    """True (the system's certificate authorities), False, or a CA bundle file or folder."""
    verify_source: str = field(default=CONNECTION_CA, compare=False)
    """Where a CA bundle path came from, as errors name it ("the ..." follows)."""

    @property
    def proxy_password(self) -> str | None:
        """The proxy's password, for the hooks to mask: it may come from the environment."""
        return urlsplit(self.proxy).password if self.proxy else None


def _proxy_variable(key: str) -> str:
    """Which variable gave the environment's proxy for ``key``: the lower-case one wins, as in urllib."""
    for name in (f"{key}_proxy", f"{key.upper()}_PROXY"):
        if os.environ.get(name):
            return f"{name} environment variable"
    return "system proxy settings"  # macOS and Windows: not a variable


def network_route(settings: ConnectionSettings, url: str | None = None) -> Route:
    """
    The route to ``url`` (default: the API base URL). No credentials are read, and nothing from a
    ``.netrc``. Both hooks and the audio check (for each URL it requests) take their proxy and TLS
    from here, with their HTTP library told to read nothing from the environment itself.

    The connection's own ``proxies``, ``ca_bundle`` and ``allow_insecure_tls`` come first. With
    ``trust_env`` on, the environment fills in what they leave unset, as ``requests`` reads it: a
    proxy from ``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY`` unless ``NO_PROXY`` exempts the
    host, held to the rules of the ``proxies`` extra (so a ``socks5://`` proxy fails before any
    request, naming the variable), and the CA bundle named by ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE``. (``requests`` on its own lets the environment replace what a session sets.)
    A CA bundle path that does not exist fails here, before any request, naming where it came
    from. On macOS and Windows the environment includes the system's proxy settings, which may take
    a while to read, and a CA path is looked up on disk: call it off the event loop.
    """
    url = url or settings.base_url
    selected = _select_proxy(url, settings.proxies)
    proxy = selected[1] if selected else None
    verify = settings.verify
    verify_source = CONNECTION_CA
    if settings.trust_env:
        if proxy is None and not bypasses_environment_proxies(url):
            from_environment = _select_proxy(url, urllib.request.getproxies())  # type: ignore[attr-defined]
            if from_environment:
                key, proxy = from_environment
                key = key.partition("://")[0]
                check_environment_proxy(proxy, key, _proxy_variable(key))
        if verify is True:
            variable = next((name for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)
            if variable:
                verify = os.environ[variable]
                verify_source = f"worker's {variable} environment variable (the connection's trust_env is on)"
    if isinstance(verify, str) and not os.path.exists(verify):
        raise TaqnyatConfigurationError(
            f"The CA bundle {verify!r} from the {verify_source} does not exist on "
            "this worker; nothing was sent"
        )
    return Route(proxy, verify, verify_source)


def tls_context(route: Route) -> ssl.SSLContext | bool:
    """
    ``route.verify`` as an SSL context (a CA bundle file, or a folder of hashed certificates as
    ``requests`` takes one), or the bool itself. Reads the file: off the event loop. A bundle that
    cannot be read fails before any request, naming where it came from.
    """
    if not isinstance(route.verify, str):
        return route.verify
    folder = os.path.isdir(route.verify)
    try:
        return ssl.create_default_context(
            cafile=None if folder else route.verify, capath=route.verify if folder else None
        )
    except (OSError, ssl.SSLError) as error:
        raise TaqnyatConfigurationError(
            f"The CA bundle {route.verify!r} from the {route.verify_source} cannot be "
            f"read ({type(error).__name__}: {error}); nothing was sent"
        ) from None
