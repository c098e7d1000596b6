"""
Where a request to the API goes: through which proxy, verified against which certificates.

The connection's own ``proxies``, ``ca_bundle`` and ``allow_insecure_tls`` come first; with its
``trust_env`` on, the worker's environment fills in what they leave unset, read as ``requests``
reads it (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``) and never a ``.netrc``. The async hook asks here because ``aiohttp``, told to
trust the environment, would also read a ``.netrc``; the sync hook's ``requests`` session reads the
same variables itself, and a test holds the two to the same answers. Pure: no HTTP library.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from taqnyat_provider.connection_settings import ConnectionSettings

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
    or ``CURL_CA_BUNDLE``. (``requests`` on its own lets the environment replace what a session
    sets; the sync hook passes the connection's with each request so that it cannot.) On macOS and Windows the environment includes the system's proxy
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
