"""
TLS failures, classified by whether the request could have reached the server.

An untrusted certificate fails the handshake before a byte of the request is sent: a configuration
error, nothing sent. A TLS connection that drops after the server read the request is "delivery
unknown": the request may have been processed, so it is never re-sent.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
import threading

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook
from tests.hooks.running import call_async, call_sync


def self_signed(folder):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taqnyat-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class DropAfterReading:
    """A TLS endpoint that reads each whole request, then closes the connection without an answer."""

    def __init__(self, cert_path, key_path):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        self.handshake_failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                raw, _ = self.server.accept()
            except OSError:
                continue
            raw.settimeout(3)
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length")
                        ),
                        0,
                    )
                    while len(body) < length:
                        body += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + body)
            except (ssl.SSLError, OSError):
                self.handshake_failures += 1
                raw.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.server.close()


@pytest.fixture
def endpoint(tmp_path):
    cert_path, key_path = self_signed(tmp_path)
    server = DropAfterReading(cert_path, key_path)
    yield server, cert_path
    server.close()


def connect(monkeypatch, port, **extra):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps(
            {
                "conn_type": "taqnyat",
                "host": f"https://127.0.0.1:{port}",
                "password": "tls-test-token",
                "extra": {"timeout": 3, "caller_id": "966500000001", **extra},
            }
        ),
    )


@pytest.mark.parametrize("send", [call_sync, call_async], ids=["sync", "async"])
def test_a_drop_after_the_server_read_the_request_is_delivery_unknown(
    endpoint, monkeypatch, fast_retries, send
):
    server, cert_path = endpoint
    connect(monkeypatch, server.port, verify=str(cert_path))
    with pytest.raises(exc.TaqnyatDeliveryUnknownError):
        send()
    assert len(server.requests) == 1, "read once, never re-sent"
    assert b"POST /voiceSend.php/" in server.requests[0]


@pytest.mark.parametrize("send", [call_sync, call_async], ids=["sync", "async"])
def test_an_untrusted_certificate_is_a_configuration_error_and_nothing_is_sent(
    endpoint, monkeypatch, fast_retries, send
):
    server, _ = endpoint
    connect(monkeypatch, server.port)
    with pytest.raises(exc.TaqnyatConfigurationError, match="not trusted"):
        send()
    assert server.requests == []
    assert "tls-test-token" not in str(server.requests)


class PlainHttpOnTlsPort:
    """A server that answers a TLS ClientHello in plain HTTP: the handshake fails at once."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_tls_handshake_that_fails_otherwise_is_a_taqnyat_error(monkeypatch, fast_retries, kind):
    # An ssl.SSLError carries its reason as a string: the certificate check must not trip on it.
    server = PlainHttpOnTlsPort()
    try:
        connect(monkeypatch, server.port)
        with pytest.raises(exc.TaqnyatError) as raised:
            if kind == "sync":
                hook = TaqnyatHook()
                try:
                    hook.get_balance()
                finally:
                    hook.close()
            else:

                async def scenario():
                    async with TaqnyatAsyncHook() as hook:
                        await hook.get_balance()

                asyncio.run(scenario())
    finally:
        server.server.close()
    assert not isinstance(raised.value, exc.TaqnyatConfigurationError)
