"""
With the connection's ``trust_env`` on, both hooks take proxies and a CA bundle from the
environment, and never a ``.netrc`` entry.

``trust_env`` only applies to an ``https://`` API, so these tests serve the sandbox's own app over
TLS on loopback (a self-signed certificate for 127.0.0.1) and read what arrived from its record of
each request's headers. A small CONNECT proxy on loopback records every request head it is sent
and tunnels to the sandbox, so a call that goes through it still succeeds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import threading

import pytest
from aiohttp import web

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.connection_settings import settings_from_connection
from taqnyat_provider.hooks.network_route import Route, network_route
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook
from taqnyat_provider.sandbox import SandboxServer
from taqnyat_provider.sandbox.app import create_app
from tests.hooks.running import run_async_hook
from tests.hooks.test_tls import self_signed
from tests.servers import RefusingProxy

ALICE = "966500000000"
AUDIO = "https://cdn.example.com/alert.mp3"
NETRC_SECRET = "netrc-secret-" + secrets.token_hex(8)
HOOKS = ["sync", "async"]


class HttpsSandbox(SandboxServer):
    """The sandbox's app served over TLS on 127.0.0.1."""

    def __init__(self, context: ssl.SSLContext, token: str) -> None:
        super().__init__(token=token)
        self.context = context

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(
            create_app(self.state, console=self._console), access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]


class TunnelProxy:
    """An HTTP proxy on loopback: records each request head, tunnels CONNECT, refuses the rest."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.heads: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client:
            client.settimeout(5)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    head += chunk
            self.heads.append(head)
            method, target, *_ = [*head.split(b"\r\n", 1)[0].split(b" "), b"", b""]
            if method != b"CONNECT":
                with contextlib.suppress(OSError):
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.decode().rpartition(":")
            try:
                upstream = socket.create_connection((host, int(port)), timeout=5)
            except OSError:
                return
            with upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
                back.start()
                self._pipe(client, upstream)
                back.join(timeout=5)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def connects(self) -> list[str]:
        """The request lines' method and target, in order (``CONNECT host:port``)."""
        return [" ".join(head.split(b"\r\n", 1)[0].decode().split()[:2]) for head in self.heads]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.server.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https_sandbox_server(tls_files):
    cert_path, key_path = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    with HttpsSandbox(context, token="sbx-" + secrets.token_hex(16)) as server:
        yield server


@pytest.fixture
def environment(monkeypatch):
    """No proxy or CA variable from the machine running the tests; each test sets its own."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    return monkeypatch


@pytest.fixture
def netrc(tmp_path, environment):
    """A .netrc naming the sandbox's host (both spellings), and a default entry, as $NETRC and ~/.netrc."""
    text = (
        f"machine 127.0.0.1 login someone password {NETRC_SECRET}\n"
        f"machine localhost login someone password {NETRC_SECRET}\n"
        f"default login corporate password {NETRC_SECRET}\n"
    )
    for path in (tmp_path / "netrc", tmp_path / ".netrc"):
        path.write_text(text)
        path.chmod(0o600)
    environment.setenv("NETRC", str(tmp_path / "netrc"))
    environment.setenv("HOME", str(tmp_path))


@pytest.fixture
def sandbox(https_sandbox_server, tls_files, netrc, environment, fast_retries):
    """The TLS sandbox, reset, with ``taqnyat_default`` pointing at it: trust_env on, its CA bundle."""
    https_sandbox_server.state.reset()
    connect(https_sandbox_server, environment, ca_bundle=str(tls_files[0]))
    return https_sandbox_server


@pytest.fixture
def proxy():
    recorder = TunnelProxy()
    yield recorder
    recorder.close()


def connect(server, monkeypatch, **extra):
    extra = {"trust_env": True, "timeout": 3, "caller_id": "966500000001", "sender": "Taqnyat.sa", **extra}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps(
            {"conn_type": "taqnyat", "host": server.base_url, "password": server.state.token, "extra": extra}
        ),
    )


def run(kind, call):
    """``call(hook)`` on a new sync or async hook, which is closed afterwards."""
    if kind == "sync":
        hook = TaqnyatHook()
        try:
            return call(hook)
        finally:
            hook.close()
    return run_async_hook(call)


def balance(kind):
    return run(kind, lambda hook: hook.get_balance())


# -- .netrc --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(
    "send",
    [
        lambda hook: hook.place_voice_calls(AUDIO, [ALICE]),
        lambda hook: hook.send_sms("Backup finished", [ALICE]),
    ],
    ids=["voice", "sms"],
)
def test_a_send_with_a_netrc_for_the_host_carries_only_the_bearer_token(sandbox, kind, send):
    report = run(kind, send)
    assert report.accepted == [ALICE]
    [request] = sandbox.received()
    assert request.endpoint in ("voice", "sms")
    # "ok": one Authorization header, the Bearer scheme and exactly the connection's token.
    assert request.auth == "ok"
    assert [name for name in request.headers if name.lower() == "authorization"] == ["Authorization"]


@pytest.mark.parametrize("kind", HOOKS)
def test_the_status_call_with_a_netrc_for_the_host_carries_no_credentials(sandbox, kind):
    status = run(kind, lambda hook: hook.get_system_status())
    assert status.operational
    [request] = sandbox.received("status")
    assert request.auth == "missing"
    assert not [name for name in request.headers if name.lower() == "authorization"]


@pytest.mark.parametrize("kind", HOOKS)
def test_a_netrc_entry_for_the_proxy_host_is_not_sent_to_the_proxy(sandbox, proxy, environment, kind):
    # The .netrc names 127.0.0.1, where the proxy listens: aiohttp's trust_env would send it.
    environment.setenv("HTTPS_PROXY", proxy.url)
    balance(kind)
    [head] = proxy.heads
    assert b"proxy-authorization" not in head.lower()
    assert NETRC_SECRET.encode() not in head


# -- proxies from the environment ----------------------------------------------------------------


def through(proxy):
    return proxy.url


def nowhere(proxy):
    return dead_port()


def dead_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


ROUTES = [
    # (variables, whether the request goes through the proxy)
    ({"HTTPS_PROXY": through}, True),
    ({"https_proxy": through}, True),
    ({"ALL_PROXY": through}, True),
    ({"HTTPS_PROXY": through, "NO_PROXY": "localhost"}, True),  # another name, not the address
    ({"HTTPS_PROXY": through, "NO_PROXY": "10.0.0.0/8, example.com"}, True),
    ({"HTTPS_PROXY": through, "NO_PROXY": "127.0.0.1"}, False),
    ({"HTTPS_PROXY": through, "no_proxy": "example.com,127.0.0.1"}, False),
    ({"HTTPS_PROXY": through, "NO_PROXY": "127.0.0.0/8"}, False),
    ({"HTTPS_PROXY": through, "NO_PROXY": "*"}, False),
    ({"HTTP_PROXY": through}, False),  # a proxy for http only: the API is https
    ({"HTTPS_PROXY": nowhere, "NO_PROXY": "127.0.0.1"}, False),  # it would fail if it were used
    ({"HTTPS_PROXY": lambda proxy: f"localhost:{proxy.port}"}, True),  # no scheme: http, as curl
]


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(("variables", "proxied"), ROUTES, ids=[str(i) for i in range(len(ROUTES))])
def test_the_environment_proxy_and_no_proxy_apply_with_trust_env(
    sandbox, proxy, environment, kind, variables, proxied
):
    for name, value in variables.items():
        environment.setenv(name, value if isinstance(value, str) else value(proxy))
    assert balance(kind).balance > 0
    assert sandbox.received("balance")[0].auth == "ok"
    assert proxy.connects() == ([f"CONNECT 127.0.0.1:{sandbox.port}"] if proxied else [])


@pytest.mark.parametrize("kind", HOOKS)
def test_no_environment_proxy_applies_without_trust_env(sandbox, proxy, environment, tls_files, kind):
    connect(sandbox, environment, trust_env=False, ca_bundle=str(tls_files[0]))
    environment.setenv("HTTPS_PROXY", proxy.url)
    environment.setenv("ALL_PROXY", proxy.url)
    balance(kind)
    assert proxy.heads == []


@pytest.mark.parametrize("kind", HOOKS)
def test_a_dead_environment_proxy_fails_the_call_before_anything_is_sent(sandbox, environment, kind):
    environment.setenv("HTTPS_PROXY", dead_port())
    with pytest.raises(exc.TaqnyatError):
        balance(kind)
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", HOOKS)
def test_a_send_through_a_dead_proxy_is_known_not_sent(sandbox, environment, kind):
    # Nothing reached the proxy, so nothing reached Taqnyat: a transient failure that Airflow may
    # retry, never "delivery unknown" (which would stop the task and name Alice as maybe reached).
    environment.setenv("HTTPS_PROXY", dead_port())
    with pytest.raises(exc.TaqnyatTransientError) as raised:
        run(kind, lambda hook: hook.place_voice_calls(AUDIO, [ALICE]))
    assert not isinstance(raised.value, exc.TaqnyatDeliveryUnknownError)
    assert raised.value.retryable
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", HOOKS)
def test_the_proxy_password_in_the_environment_goes_to_the_proxy_only(sandbox, proxy, environment, kind):
    environment.setenv("HTTPS_PROXY", f"http://team:proxy-pass@127.0.0.1:{proxy.port}")
    balance(kind)
    [head] = proxy.heads
    expected = base64.b64encode(b"team:proxy-pass")
    assert b"Proxy-Authorization: Basic " + expected in head.replace(
        b"proxy-authorization", b"Proxy-Authorization"
    )
    [request] = sandbox.received()
    assert not [name for name in request.headers if name.lower().startswith("proxy-")]


# -- CA bundles from the environment -------------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_environment_ca_bundle_applies_with_trust_env(sandbox, environment, tls_files, kind, variable):
    connect(sandbox, environment)  # no ca_bundle: the environment's, or the default authorities
    environment.setenv(variable, str(tls_files[0]))
    assert balance(kind).balance > 0
    connect(sandbox, environment, trust_env=False)
    with pytest.raises(exc.TaqnyatConfigurationError, match="not trusted"):
        balance(kind)
    assert len(sandbox.received()) == 1


@pytest.mark.parametrize("kind", HOOKS)
def test_the_connections_ca_bundle_wins_over_the_environments(sandbox, environment, tmp_path, kind):
    # Another certificate authority: it does not trust the sandbox's certificate.
    other, _ = self_signed(tmp_path)
    environment.setenv("REQUESTS_CA_BUNDLE", str(other))
    assert balance(kind).balance > 0


@pytest.mark.parametrize("kind", HOOKS)
def test_the_connections_proxy_wins_over_the_environments(sandbox, proxy, environment, tls_files, kind):
    connect(sandbox, environment, ca_bundle=str(tls_files[0]), proxies={"https": proxy.url})
    environment.setenv("HTTPS_PROXY", dead_port())
    assert balance(kind).balance > 0
    assert len(proxy.heads) == 1


@pytest.mark.parametrize("kind", HOOKS)
def test_the_connections_all_proxy_wins_over_the_environments_https_proxy(
    sandbox, proxy, environment, tls_files, kind
):
    connect(sandbox, environment, ca_bundle=str(tls_files[0]), proxies={"all": proxy.url})
    environment.setenv("HTTPS_PROXY", dead_port())
    assert balance(kind).balance > 0
    assert len(proxy.heads) == 1


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY"])
@pytest.mark.parametrize(
    "value",
    ["socks5://team:s3cret-proxy@127.0.0.1:1080", "http://team:s3cret-proxy@127.0.0.1:99999"],
    ids=["socks", "bad-port"],
)
def test_an_unusable_environment_proxy_fails_before_anything_is_sent(
    sandbox, environment, kind, variable, value
):
    # Not "delivery unknown": nothing can have left, and the error says which variable to fix.
    environment.setenv(variable, value)
    with pytest.raises(exc.TaqnyatConfigurationError) as raised:
        run(kind, lambda hook: hook.place_voice_calls(AUDIO, [ALICE]))
    message = str(raised.value)
    assert f"The worker's {variable} environment variable" in message
    assert "nothing was sent" in message
    assert "s3cret-proxy" not in message
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", HOOKS)
def test_the_error_names_the_variable_that_was_used(sandbox, environment, kind):
    # urllib lets the lower-case variable win: that is the one to fix.
    environment.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    environment.setenv("https_proxy", "socks5://127.0.0.1:1080")
    with pytest.raises(exc.TaqnyatConfigurationError, match="The worker's https_proxy environment variable"):
        run(kind, lambda hook: hook.place_voice_calls(AUDIO, [ALICE]))
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(
    ("where", "named"),
    [("environment", "REQUESTS_CA_BUNDLE environment variable"), ("connection", "'ca_bundle' extra")],
)
@pytest.mark.parametrize("content", [None, b"not a certificate"], ids=["missing", "garbage"])
def test_a_ca_bundle_that_cannot_be_used_is_a_configuration_error_before_anything_is_sent(
    sandbox, environment, tmp_path, kind, where, named, content
):
    bundle = tmp_path / "company-ca.pem"
    if content is not None:
        bundle.write_bytes(content)
    if where == "connection":
        connect(sandbox, environment, ca_bundle=str(bundle))
    else:
        connect(sandbox, environment)
        environment.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with pytest.raises(exc.TaqnyatConfigurationError) as raised:
        run(kind, lambda hook: hook.place_voice_calls(AUDIO, [ALICE]))
    message = str(raised.value)
    assert "company-ca.pem" in message
    assert named in message
    assert "nothing was sent" in message
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", HOOKS)
def test_a_proxy_that_refuses_the_tunnel_means_not_sent_and_never_shows_its_password(
    sandbox, environment, tls_files, kind
):
    refusing = RefusingProxy()
    try:
        connect(
            sandbox,
            environment,
            ca_bundle=str(tls_files[0]),
            proxies={"https": f"http://team:s3cret-proxy@127.0.0.1:{refusing.port}"},
        )
        with pytest.raises(exc.TaqnyatTransientError) as raised:
            run(kind, lambda hook: hook.place_voice_calls(AUDIO, [ALICE]))
    finally:
        refusing.close()
    # Only CONNECT lines reached the proxy, never the POST: the send is known not to have left.
    assert refusing.heads and all(head.startswith(b"CONNECT ") for head in refusing.heads)
    assert not isinstance(raised.value, exc.TaqnyatDeliveryUnknownError)
    assert "s3cret-proxy" not in str(raised.value)
    assert sandbox.received() == []


@pytest.mark.parametrize("kind", HOOKS)
def test_a_folder_of_hashed_certificates_is_a_ca_path(sandbox, environment, tls_files, tmp_path, kind):
    # requests takes a folder as a CA path (capath); the async hook must too.
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(tls_files[0])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / f"{subject_hash}.0").write_bytes(tls_files[0].read_bytes())
    connect(sandbox, environment, ca_bundle=str(folder))
    assert balance(kind).balance > 0


# -- the async hook: off the event loop, and the same route as requests -----------------------------


def test_the_environment_is_read_in_a_worker_thread_once_per_hook(sandbox, monkeypatch):
    import urllib.request

    reads = []
    getproxies, proxy_bypass = urllib.request.getproxies, urllib.request.proxy_bypass

    def recording(name, function):
        def read(*args):
            reads.append((name, threading.get_ident()))
            return function(*args)

        return read

    monkeypatch.setattr(urllib.request, "getproxies", recording("getproxies", getproxies))
    monkeypatch.setattr(urllib.request, "proxy_bypass", recording("proxy_bypass", proxy_bypass))

    async def scenario():
        async with TaqnyatAsyncHook() as hook:
            await hook.get_balance()
            await hook.get_system_status()
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert sorted(name for name, _ in reads) == ["getproxies", "proxy_bypass"]
    assert all(thread != loop_thread for _, thread in reads)


def requests_route(settings):
    """
    What ``requests`` itself reads from the environment for the base URL, for a connection that sets
    no proxy or TLS option of its own: the hooks tell requests to read nothing and follow
    ``network_route``, which must read the environment as requests would.
    """
    import requests.utils

    with requests.Session() as session:
        session.trust_env = settings.trust_env
        merged = session.merge_environment_settings(settings.base_url, {}, None, None, None)
    proxy = requests.utils.select_proxy(settings.base_url, merged["proxies"])
    return Route(proxy and requests.utils.prepend_scheme_if_needed(proxy, "http"), merged["verify"])


PROXY_VARIABLES = [
    {"HTTPS_PROXY": "http://proxy.internal:3128"},
    {"https_proxy": "http://lower:3128", "HTTPS_PROXY": "http://upper:3128"},
    {"HTTP_PROXY": "http://proxy.internal:3128"},
    {"ALL_PROXY": "http://all.internal:3128"},
    {"ALL_PROXY": "http://all.internal:3128", "HTTPS_PROXY": "http://proxy.internal:3128"},
    {"HTTPS_PROXY": "127.0.0.1:3128"},
    {},
]
NO_PROXY = [
    None,
    "",
    "*",
    "127.0.0.1",
    "127.0.0.0/8",
    "127.0.0.0/33",
    "10.0.0.0/8",
    "127.0.0.1:8443",
    "localhost",
    "taqnyat.sa",
    ".taqnyat.sa",
    "api.taqnyat.sa:8443",
    "api.taqnyat.sa:443",
    "other.example, api.TAQNYAT.sa",
    "::1",
    "[::1]",
]
BASE_URLS = [
    "https://api.taqnyat.sa",
    "https://api.taqnyat.sa:8443",
    "https://127.0.0.1:8443",
    "https://[::1]:8443",
]


@pytest.mark.parametrize("base_url", BASE_URLS)
@pytest.mark.parametrize("variables", PROXY_VARIABLES, ids=[str(i) for i in range(len(PROXY_VARIABLES))])
def test_the_route_from_the_environment_is_the_one_requests_picks(environment, tmp_path, base_url, variables):
    for name, value in variables.items():
        environment.setenv(name, value)
    company_ca = tmp_path / "company-ca.pem"
    company_ca.write_text("")
    environment.setenv("CURL_CA_BUNDLE", str(company_ca))
    for no_proxy in NO_PROXY:
        for name in ("NO_PROXY", "no_proxy"):
            environment.delenv(name, raising=False)
        if no_proxy is not None:
            environment.setenv("NO_PROXY", no_proxy)
        for trust_env in (True, False):
            settings = settings_from_connection(
                host=base_url, schema=None, port=None, password="t", extra={"trust_env": trust_env}
            )
            assert network_route(settings) == requests_route(settings), (no_proxy, trust_env)
