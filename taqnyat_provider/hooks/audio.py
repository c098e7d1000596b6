"""
The audio preflight's transport: performs :mod:`taqnyat_provider.audio_check`'s probes with ``requests``.

The probes take the connection's network settings — its proxies, whether the environment applies
(``trust_env``), its TLS verification — from :mod:`~taqnyat_provider.network_route`, for each URL
they request, because the worker reaches the audio host the way it reaches the API; they never
take its token. Each probe is one request on a session of its own,
with no credentials of any kind: no ``Authorization`` header, no ``.netrc`` (a no-op auth), no
cookies kept between probes, no user info from the URL, and redirects are not followed by
``requests`` (the core decides which to follow).
"""

from __future__ import annotations

import time

import requests

from taqnyat_provider import audio_check
from taqnyat_provider.audio_check import SNIFF_BYTES, AudioReport, Probe
from taqnyat_provider.connection_settings import ConnectionSettings
from taqnyat_provider.hooks.transport import BASE_HEADERS, mask_proxy_password, requests_failure
from taqnyat_provider.network_route import network_route
from taqnyat_provider.steps import Answer, TransportError

PROBE_HEADERS = {"Accept": "*/*", "User-Agent": BASE_HEADERS["User-Agent"]}


class _NoCredentials(requests.auth.AuthBase):
    """Keeps ``requests`` from adding credentials of its own: a ``.netrc`` entry, or the URL's user info."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def check_audio_url(
    url: str, settings: ConnectionSettings, timeout: float = audio_check.DEFAULT_TIMEOUT_SECONDS
) -> AudioReport:
    """Check ``url`` before a voice send; raises a ``TaqnyatAudioCheckError`` subclass when it is unusable."""
    with requests.Session() as session:
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
            deadline = time.monotonic() + 2 * timeout  # a server dripping bytes cannot hold the check
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
                            if len(body) >= SNIFF_BYTES or time.monotonic() > deadline:
                                break
                    return Answer(response.status_code, response.headers, body[:SNIFF_BYTES])
            except requests.RequestException as error:
                raise TransportError(requests_failure(error), f"{type(error).__name__}") from None

        return audio_check.run(url, perform)
