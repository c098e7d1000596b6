"""
The audio check reaches public hosts only: ``audio_url`` may come from whoever triggers a DAG.

An address that is, or resolves to, loopback, private, link-local, multicast or reserved is refused
with a named error before any connection: every test here records each socket connect, and none
may happen. Nothing here sends a packet beyond loopback. The sandbox's own loopback audio is
allowed with a sandbox connection (tests/operators/test_audio_preflight.py runs it in DAGs), and
the operator's ``allow_private_audio_host=True`` allows every address.
"""

from __future__ import annotations

import socket
import threading

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.connection_settings import ConnectionSettings
from taqnyat_provider.hooks.audio import check_audio_url

PRODUCTION = ConnectionSettings(base_url="https://api.taqnyat.sa", token="the-token")


@pytest.fixture
def connects(monkeypatch):
    """Every address a socket connects to in this test (urllib3 connects with socket.connect)."""
    seen: list[object] = []
    connect = socket.socket.connect

    def recording(self, address):
        seen.append(address)
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording)
    return seen


@pytest.fixture
def internal_name(monkeypatch):
    """``audio.corp.example`` resolves to 10.1.2.3, as a company's internal DNS might say."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "audio.corp.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.2/alert.mp3", "is a loopback address"),
        ("http://10.0.0.1/alert.mp3", "is a private address"),
        ("http://169.254.169.254/latest/meta-data/alert.mp3", "is a link-local address"),
        ("http://[::ffff:10.0.0.1]/alert.mp3", "is a private address"),
        ("http://[::1]:8080/alert.mp3", "is a loopback address"),
        ("http://224.0.0.1/alert.mp3", "is a multicast address"),
        ("http://0.0.0.0:9/alert.mp3", "is an unspecified address"),
        ("http://localhost:8475/_sandbox/audio/reminder.mp3", "resolves to a loopback address"),
        ("https://audio.corp.example/alert.mp3", "resolves to a private address"),
    ],
)
def test_an_internal_audio_host_is_refused_before_any_connection(connects, internal_name, url, kind):
    with pytest.raises(exc.TaqnyatAudioHostRefusedError, match=kind) as raised:
        check_audio_url(url, PRODUCTION, timeout=1)
    assert connects == [], "refused before connecting"
    assert not raised.value.retryable
    assert "10.1.2.3" not in str(raised.value), "the error names the kind, not what internal DNS said"


def test_even_with_a_proxy_an_internal_literal_address_is_refused(connects):
    settings = ConnectionSettings(
        base_url="https://api.taqnyat.sa", token="t", proxies={"http": "http://127.0.0.1:9"}
    )
    with pytest.raises(exc.TaqnyatAudioHostRefusedError):
        check_audio_url("http://169.254.169.254/a.mp3", settings, timeout=1)
    assert connects == []


class Listener:
    """A loopback listener that records what it accepted and reads, and answers nothing."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.received = b""
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(1)
            try:
                while data := conn.recv(65536):
                    self.received += data
            except OSError:
                pass
            conn.close()


def test_a_name_that_rebinds_to_loopback_after_the_check_sends_nothing(monkeypatch):
    # The check's own lookup says public; the connection's lookup, a moment later, says loopback.
    listener = Listener()
    real = socket.getaddrinfo
    lookups = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "rebind.example":
            lookups.append(host)
            address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, listener.port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        with pytest.raises(exc.TaqnyatAudioHostRefusedError, match="loopback"):
            check_audio_url(f"http://rebind.example:{listener.port}/a.mp3", PRODUCTION, timeout=1)
    finally:
        listener.server.close()
    assert listener.received == b"", "not a byte of the request"


def test_closed_and_silent_ports_read_the_same(sandbox):
    # With internal hosts allowed (the operator's opt-in), a refused port and a port that accepts and
    # never answers must not be told apart: that would make the check a port scanner.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    silent = Listener()
    errors = []
    try:
        for port in (closed, silent.port):
            with pytest.raises(exc.TaqnyatAudioUnavailableError) as raised:
                check_audio_url(f"http://127.0.0.1:{port}/a.mp3", PRODUCTION, 0.5, allow_private_hosts=True)
            errors.append(str(raised.value).replace(str(port), "PORT"))
    finally:
        silent.server.close()
    assert errors[0] == errors[1]


def test_an_error_quotes_no_bytes_of_the_answer(sandbox):
    # disguised.mp3: a sign-in page served as application/octet-stream.
    url = f"{sandbox.base_url}/_sandbox/audio/disguised.mp3"
    with pytest.raises(exc.TaqnyatInvalidAudioError) as raised:
        check_audio_url(url, PRODUCTION, 2, allow_loopback=True)
    assert "HTML" in str(raised.value)
    assert "<" not in str(raised.value) and "DOCTYPE" not in str(raised.value)


def test_loopback_is_allowed_for_the_sandbox_and_private_hosts_by_opt_in(sandbox):
    url = f"{sandbox.base_url}/_sandbox/audio/reminder.mp3"
    assert check_audio_url(url, PRODUCTION, 2, allow_loopback=True).checked_with == "HEAD"
    assert check_audio_url(url, PRODUCTION, 2, allow_private_hosts=True).checked_with == "HEAD"
    with pytest.raises(exc.TaqnyatAudioHostRefusedError):
        check_audio_url(url, PRODUCTION, 2)
    assert len(sandbox.received("audio")) == 2
