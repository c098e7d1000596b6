"""
The ``taqnyat_sandbox`` pytest fixture: test your own DAGs offline against the Taqnyat sandbox.

Installed as a pytest plugin (entry point ``pytest11``), so it is there as soon as the provider is::

    def test_on_call_dag_calls_the_rota(taqnyat_sandbox):
        dag.test()
        assert taqnyat_sandbox.called_numbers() == ["966500000000"]

The fixture starts one sandbox per test session on a free loopback port, resets it for every
test, and points the ``taqnyat_default`` connection at it (through ``AIRFLOW_CONN_TAQNYAT_DEFAULT``,
removed again after the test). Imports nothing heavy until a test asks for the fixture.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from taqnyat_provider.sandbox import SandboxServer
    from taqnyat_provider.sandbox.state import Fault, RateLimit, RecordedRequest, SandboxState

DEFAULT_CALLER_ID = "966500000001"
DEFAULT_SENDER = "Taqnyat.sa"


class TaqnyatSandbox:
    """A running sandbox, steered from a test; ``state`` gives everything else it knows."""

    def __init__(self, server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self._server = server
        self._monkeypatch = monkeypatch

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def token(self) -> str:
        return self._server.state.token

    @property
    def state(self) -> SandboxState:
        return self._server.state

    def connection_json(self, **extra: Any) -> str:
        """A ``taqnyat`` connection to the sandbox, with these extras, as ``AIRFLOW_CONN_...`` JSON."""
        return self._server.connection_json(**extra)

    def connect(self, conn_id: str = "taqnyat_default", **extra: Any) -> str:
        """Point the Airflow connection ``conn_id`` at the sandbox, with these extras; return its id."""
        self._monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", self.connection_json(**extra))
        return conn_id

    # -- what it received ---------------------------------------------------------------------------

    def received(self, endpoint: str | None = None) -> list[RecordedRequest]:
        """Requests in order, token redacted; ``endpoint`` is status, voice, sms, senders, delete or balance."""
        return self.state.received(endpoint)

    def called_numbers(self) -> list[str]:
        """Every number a voice call went out to, once per call."""
        return self.state.called_numbers()

    def texted_numbers(self) -> list[str]:
        """Every number an SMS went (or is scheduled) to, once per message; cancelled ones left out."""
        return self.state.texted_numbers()

    def rate_limited(self) -> list[RecordedRequest]:
        """The requests the rate limit answered with 429 (recorded with ``fault="rate_limit"``)."""
        return self.state.rate_limited()

    # -- steering -----------------------------------------------------------------------------------

    def inject(self, kind: str, endpoint: str = "any", times: int = 1, **options: Any) -> Fault:
        """
        Play a fault instead of the normal answer: ``error:<code>``, ``429``/``503`` (``retry_after``),
        ``500``/``502``/``504``, ``drop``, ``hang`` (``seconds``), ``garbage``, ``empty``,
        ``degraded``, ``long`` (``size``, ``filler``), ``whitespace`` (``size``) or ``non_utf8``
        (``encoding``); ``skip=N`` lets N matching requests through first. ``retry_after=None``
        sends no ``Retry-After``; any other text is sent as it is.
        """
        return self.state.inject(kind, endpoint=endpoint, times=times, **options)

    def set_rate_limit(self, limit: RateLimit | str | None) -> RateLimit | None:
        """
        Throttle the token like Taqnyat's gateway: ``"100/60s"`` answers requests beyond 100 per
        60 s (a fixed window; ``"100/60s sliding"`` for any 60 s) with 429 and ``Retry-After``;
        None lifts it. Every test starts without a limit.
        """
        return self.state.set_rate_limit(limit)

    def degrade(self, service: str = "voice", description: str | None = None) -> None:
        """Make ``/system/status/`` report trouble until ``recover()``."""
        self.state.degrade(service, description)

    def recover(self) -> None:
        self.state.set_status()

    def set_balance(self, balance: Decimal | str | float) -> None:
        self.state.set_balance(balance)

    def set_unreachable(self, numbers: Iterable[str]) -> None:
        """Numbers the API will list as rejected."""
        self.state.set_unreachable(numbers)

    def set_senders(self, senders: Iterable[dict[str, Any] | str]) -> None:
        self.state.set_senders(senders)


@pytest.fixture(scope="session")
def taqnyat_sandbox_server() -> Iterator[SandboxServer]:
    """The session's sandbox server, with a random token."""
    from taqnyat_provider.sandbox import SandboxServer

    with SandboxServer(token="sbx-" + secrets.token_hex(16)) as server:
        yield server


@pytest.fixture
def taqnyat_sandbox(taqnyat_sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> TaqnyatSandbox:
    """
    A reset sandbox with ``taqnyat_default`` pointing at it (caller ID 966500000001, sender
    Taqnyat.sa, 5 s timeout). Call ``taqnyat_sandbox.connect("my_conn_id", ...)`` for other ids.
    """
    taqnyat_sandbox_server.state.reset()
    sandbox = TaqnyatSandbox(taqnyat_sandbox_server, monkeypatch)
    sandbox.connect(caller_id=DEFAULT_CALLER_ID, sender=DEFAULT_SENDER, timeout=5)
    return sandbox
