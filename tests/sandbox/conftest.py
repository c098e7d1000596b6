"""Sandbox suites: a private server per module, so that a rate limit never leaks into other suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taqnyat_provider.sandbox import SandboxServer
from tests.sandbox.client import TOKEN


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(token=TOKEN) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> SandboxServer:
    """This module's sandbox, reset: no faults, no rate limit, an empty request log."""
    server.state.reset()
    return server
