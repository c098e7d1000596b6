"""Loopback servers the suites share: one canned answer to whatever asks."""

from __future__ import annotations

import socket
import threading

PROXY_AUTH_REQUIRED = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
    b'Proxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
)


class RefusingProxy:
    """
    A proxy that answers every request (a CONNECT, or a plain proxied one) with 407: the tunnel to
    the API never opens. ``heads`` keeps each request's head, to check what reached the proxy.
    """

    def __init__(self, answer: bytes = PROXY_AUTH_REQUIRED) -> None:
        self.answer = answer
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.heads: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.heads.append(data)
                conn.sendall(self.answer)

    def close(self) -> None:
        self.server.close()
