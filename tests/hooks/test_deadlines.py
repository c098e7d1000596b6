"""
The sync hook's whole-request deadline: one watchdog thread for every request, not a timer thread
per request (whose start made each request wait for it; see ``benchmarks/dag_runs.py``).
"""

from __future__ import annotations

import socket
import threading
import time

from taqnyat_provider.hooks.sync_transport import flight


class Connection:
    """What a Flight shuts down at its deadline: a urllib3 connection's ``sock``."""

    def __init__(self) -> None:
        self.sock, self.peer = socket.socketpair()

    def shut(self) -> bool:
        """Whether the socket was shut down: a read returns at once, with nothing."""
        self.sock.settimeout(1)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False


def watchdogs() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "taqnyat-deadlines"]


def test_a_request_still_in_the_air_at_its_deadline_is_cut():
    connection = Connection()
    with flight(0.05) as current:
        current.connection = connection  # type: ignore[assignment]
        time.sleep(0.3)
        assert current.expired
    assert connection.shut()


def test_a_request_that_landed_is_never_cut():
    connection = Connection()
    with flight(0.1) as current:
        current.connection = connection  # type: ignore[assignment]
    time.sleep(0.3)
    assert not current.expired and not connection.shut()


def test_a_short_deadline_behind_a_long_one_is_kept_on_time():
    long_landed = threading.Event()

    def long_request():
        with flight(30):
            long_landed.wait(5)

    other = threading.Thread(target=long_request)
    other.start()
    time.sleep(0.05)  # the watchdog now waits for the 30 s deadline
    try:
        started = time.monotonic()
        with flight(0.05) as current:
            while not current.expired and time.monotonic() - started < 2:
                time.sleep(0.01)
        assert current.expired and time.monotonic() - started < 1
    finally:
        long_landed.set()
        other.join()


def test_many_requests_share_one_watchdog_thread():
    before = threading.active_count()
    for _ in range(50):
        with flight(30):
            pass
    assert len(watchdogs()) == 1
    assert threading.active_count() <= before + 1
