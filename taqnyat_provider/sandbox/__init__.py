"""
A local stand-in for the Taqnyat API, on loopback.

Run it with ``taqnyat-sandbox`` (port 8475 by default) (or ``python -m taqnyat_provider.sandbox``), or from
Python with :class:`SandboxServer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taqnyat_provider.sandbox.server import SandboxServer
    from taqnyat_provider.sandbox.state import Fault, SandboxState

__all__ = ["Fault", "SandboxServer", "SandboxState"]


def __getattr__(name: str) -> Any:
    # aiohttp.web loads only when the sandbox is really used.
    if name == "SandboxServer":
        from taqnyat_provider.sandbox.server import SandboxServer

        return SandboxServer
    if name in ("Fault", "SandboxState"):
        from taqnyat_provider.sandbox import state

        return getattr(state, name)
    raise AttributeError(name)
