"""Run the sandbox on loopback in a background thread: for tests, the pytest plugin and the demo."""

from __future__ import annotations

import asyncio
import sys
import threading
from decimal import Decimal
from typing import Any, TextIO

from aiohttp import web

from taqnyat_provider.sandbox.app import create_app
from taqnyat_provider.sandbox.state import (
    DEFAULT_BALANCE,
    DEFAULT_TOKEN,
    RateLimit,
    RecordedRequest,
    SandboxState,
)


class SandboxServer:
    """
    A sandbox listening on ``127.0.0.1`` (a free port unless one is given), steered from Python.

    Use as a context manager, or call ``start()`` and ``stop()``::

        with SandboxServer() as sandbox:
            sandbox.state.inject("error:3", endpoint="voice")
            ...
            assert len(sandbox.received("voice")) == 1

    ``rate_limit="100/60s"`` answers the token's requests beyond 100 per 60 s with 429 and a
    ``Retry-After``, as Taqnyat's gateway would; ``state.set_rate_limit`` changes it at run time.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        balance: Decimal = DEFAULT_BALANCE,
        host: str = "127.0.0.1",
        port: int = 0,
        console: TextIO | None = None,
        rate_limit: RateLimit | str | None = None,
    ) -> None:
        self.state = SandboxState(token=token, balance=balance, rate_limit=rate_limit)
        self.host = host
        self.port = port
        self._console = console or sys.stderr
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connection_json(self, **extra: Any) -> str:
        import json

        return json.dumps(
            {"conn_type": "taqnyat", "host": self.base_url, "password": self.state.token, "extra": extra}
        )

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._serve, name="taqnyat-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._startup_error is not None:
            raise RuntimeError(f"Sandbox failed to start: {self._startup_error}") from self._startup_error
        if not self._ready.is_set():
            raise RuntimeError("Sandbox did not start within 30 s")
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as error:
            self._startup_error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        if self._runner is not None:
            loop.run_until_complete(self._runner.cleanup())
        # A handler still sleeping in a "hang" fault must not outlive the server.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(
            create_app(self.state, console=self._console), access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=15)
        self._loop = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def received(self, endpoint: str | None = None) -> list[RecordedRequest]:
        return self.state.received(endpoint)
