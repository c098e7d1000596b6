"""
The audio preflight's transport: performs :mod:`taqnyat_provider.core.audio_check`'s probes with ``requests``.

The probes take the connection's network settings — its proxies, whether the environment applies
(``trust_env``), its TLS verification — from :mod:`~taqnyat_provider.hooks.network_route`, for each URL
they request, because the worker reaches the audio host the way it reaches the API; they never
take its token. Each probe is one request on a session of its own,
with no credentials of any kind: no ``Authorization`` header, no ``.netrc`` (a no-op auth), no
cookies kept between probes, no user info from the URL, and redirects are not followed by
``requests`` (the core decides which to follow).
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import requests

from taqnyat_provider.core import audio_check
from taqnyat_provider.core.audio_check import SNIFF_BYTES, AudioReport, Probe, refuse_internal_host
from taqnyat_provider.core.connection_settings import ConnectionSettings
from taqnyat_provider.core.steps import Answer, Failure, TransportError, drive
from taqnyat_provider.hooks.network_route import network_route
from taqnyat_provider.hooks.sync_transport import flight, tracking_session
from taqnyat_provider.hooks.transport import BASE_HEADERS, DEADLINE_FACTOR, mask_proxy_password

PROBE_HEADERS = {"Accept": "*/*", "User-Agent": BASE_HEADERS["User-Agent"]}


class _NoCredentials(requests.auth.AuthBase):
    """Keeps ``requests`` from adding credentials of its own: a ``.netrc`` entry, or the URL's user info."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def _addresses(url: str) -> list[str] | None:
    """The addresses the URL's host resolves to (a literal address: itself), or None when it does not."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]
    except (OSError, UnicodeError, ValueError):
        return None


def check_audio_url(
    url: str,
    settings: ConnectionSettings,
    timeout: float = audio_check.DEFAULT_TIMEOUT_SECONDS,
    *,
    allow_loopback: bool = False,
    allow_private_hosts: bool = False,
) -> AudioReport:
    """
    Check ``url`` before a voice send; raises a ``TaqnyatAudioCheckError`` subclass when it is unusable.

    Each URL requested (each redirect too) is resolved first, and a host that is or resolves to a
    loopback, private, link-local, multicast or reserved address is refused before any connection
    (``TaqnyatAudioHostRefusedError``), and again if the connection reaches one (a name that
    resolved elsewhere a moment before). ``allow_loopback``: loopback is allowed (the local
    sandbox's audio); ``allow_private_hosts``: every address is. Through a proxy, a name this worker
    cannot resolve is left to the proxy. Each request ends within twice ``timeout``.
    """
    with tracking_session() as session:
        session.trust_env = False
        session.auth = _NoCredentials()
        session.headers.clear()
        session.headers.update(PROBE_HEADERS)

        def perform(probe: Probe) -> Answer:
            session.cookies.clear()
            # The connection's proxy and TLS for this URL, as for the API: per probe, because a
            # redirect may go from http to https, which may take another proxy.
            route = network_route(settings, probe.url)
            mask_proxy_password(route)
            peer_check = None
            if not allow_private_hosts:
                addresses = _addresses(probe.url)
                if addresses is None and not route.proxy:
                    raise TransportError(Failure.NOT_CONNECTED, "")
                refuse_internal_host(probe.url, addresses or [], allow_loopback=allow_loopback)

                def peer_check(address: str) -> None:
                    refuse_internal_host(probe.url, [address], allow_loopback=allow_loopback)

            with flight(DEADLINE_FACTOR * timeout, peer_check) as current:
                try:
                    with session.request(
                        probe.method,
                        probe.url,
                        headers=dict(probe.headers),
                        timeout=(timeout, timeout),
                        proxies={"http": route.proxy, "https": route.proxy} if route.proxy else {},
                        verify=route.verify,
                        allow_redirects=False,
                        stream=True,
                    ) as response:
                        body = b""
                        if probe.method == "GET":
                            for chunk in response.iter_content(SNIFF_BYTES):
                                body += chunk
                                if len(body) >= SNIFF_BYTES:
                                    break
                        if not current.expired:
                            return Answer(response.status_code, response.headers, body[:SNIFF_BYTES])
                except requests.RequestException:
                    pass  # what failed is not said: see audio_check
                raise TransportError(Failure.TIMED_OUT, "")

        return drive(audio_check.check(url), perform)
