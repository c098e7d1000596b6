"""
What the sync hook and the audio check need from ``requests`` that it does not say itself.

* **Was a byte of the request written?** urllib3 reports a TLS handshake that timed out as a
  ``ReadTimeoutError``, like an answer that came late; only the first is safe to send again. The
  session's connections (:class:`TrackingAdapter`) note the moment they write a byte of the
  request, so a send whose request was never written is "not sent" however the failure is named.
  Bytes that open the connection (the TLS handshake, a proxy's ``CONNECT``) are not the request.
* **One deadline for the whole request.** ``requests`` bounds each wait for a byte, not the
  request: a server dripping a byte every half second holds it for ever. Each request runs in a
  :class:`Flight` whose deadline shuts the connection's socket down; the blocked read returns, and
  the failure is classed as "timed out". One watchdog thread keeps every deadline: starting a timer
  thread per request made each request wait until that thread ran, about as long as a loopback POST.

Both work through a context variable set around one request in the calling thread (``requests``
runs a request in the thread that calls it), so the session's connection pool stays requests' own.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from taqnyat_provider.core.steps import Failure
from taqnyat_provider.hooks.transport import requests_failure


class Flight:
    """One request in flight: whether its bytes were written, and its deadline."""

    def __init__(
        self, deadline_seconds: float | None, peer_check: Callable[[str], None] | None = None
    ) -> None:
        self.deadline_seconds = deadline_seconds
        self.peer_check = peer_check
        """Called with the address a direct connection reached, before a byte goes out; may raise."""
        self.written = False
        self.expired = False
        self.connection: HTTPConnection | None = None
        self.landed = False
        """The request is over (answered or failed): its deadline no longer applies."""
        self._lock = threading.Lock()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = getattr(self.connection, "sock", None)
        if sock is not None:
            # The base class's shutdown: an SSLSocket's own would drop its TLS state under the
            # reading thread. The blocked read returns at once; the connection is not reused.
            with suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def failure(self, error: requests.RequestException) -> Failure:
        """What ``error`` means for this request: nothing written is never "maybe processed"."""
        if not self.written:
            return Failure.NOT_CONNECTED
        if self.expired:
            return Failure.TIMED_OUT
        return requests_failure(error)

    def deadline_detail(self) -> str:
        return f"no complete answer within the {self.deadline_seconds:g} s deadline"


_flight: contextvars.ContextVar[Flight | None] = contextvars.ContextVar("taqnyat_flight", default=None)


@contextmanager
def flight(
    deadline_seconds: float | None, peer_check: Callable[[str], None] | None = None
) -> Iterator[Flight]:
    """Run one request inside a :class:`Flight` (its deadline holds until the block ends)."""
    current = Flight(deadline_seconds, peer_check)
    token = _flight.set(current)
    if deadline_seconds:
        _DEADLINES.watch(current, deadline_seconds)
    try:
        yield current
    finally:
        current.landed = True
        _flight.reset(token)


class _Deadlines:
    """One daemon thread that expires each :class:`Flight` still in the air at its deadline."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):  # a forked child has the lock and the heap, not the thread
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._wake = threading.Condition(threading.Lock())
        self._due: list[tuple[float, int, Flight]] = []
        self._order = itertools.count()  # ties in time never compare two flights
        self._thread: threading.Thread | None = None

    def watch(self, flight: Flight, seconds: float) -> None:
        with self._wake:
            self._drop_landed()
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), flight))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="taqnyat-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][2] is flight:  # sooner than what the thread waits for
                self._wake.notify()

    def _drop_landed(self) -> None:
        while self._due and self._due[0][2].landed:
            heapq.heappop(self._due)

    def _run(self) -> None:
        with self._wake:
            while True:
                self._drop_landed()
                if not self._due:
                    self._wake.wait()
                    continue
                at, _, flight = self._due[0]
                left = at - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                heapq.heappop(self._due)
                self._wake.release()
                try:
                    with suppress(Exception):  # one failed shutdown must not end every later deadline
                        flight._expire()
                finally:
                    self._wake.acquire()


_DEADLINES = _Deadlines()


class _Tracked:
    """A urllib3 connection that tells the current :class:`Flight` when the request's bytes go out."""

    sock: socket.socket | None
    _opening = False

    def connect(self) -> None:
        current = _flight.get()
        if current is not None:
            current.connection = self  # type: ignore[assignment]
        self._opening = True  # a proxy's CONNECT is sent from here: not the request
        try:
            super().connect()  # type: ignore[misc]
        finally:
            self._opening = False

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        current = _flight.get()
        # The address the name resolved to this time (it may differ from a check made before),
        # for a direct connection: through a proxy, the socket reaches the proxy.
        if current is not None and current.peer_check is not None and not getattr(self, "proxy", None):
            try:
                current.peer_check(sock.getpeername()[0])
            except BaseException:
                sock.close()
                raise
        return sock

    def send(self, data: Any) -> None:
        if not self._opening:
            if self.sock is None:
                self.connect()  # http.client would open it inside send(): do it before the mark
            current = _flight.get()
            if current is not None:
                with current._lock:
                    current.connection = self  # type: ignore[assignment]
                    current.written = True
        super().send(data)  # type: ignore[misc]


class _HTTPConnection(_Tracked, HTTPConnection):
    pass


class _HTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class TrackingAdapter(HTTPAdapter):
    """``requests``' default adapter (no urllib3 retries) whose connections report to a :class:`Flight`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


def tracking_session() -> requests.Session:
    """A session whose every request reports to the :class:`Flight` it runs in."""
    session = requests.Session()
    adapter = TrackingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
