"""Run calls on an async hook that is closed afterwards (an unclosed aiohttp session warns at exit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from taqnyat_provider.hooks.taqnyat_async import TaqnyatAsyncHook


def run_async_hook(call: Callable[[TaqnyatAsyncHook], Awaitable[Any]], **hook_options: Any) -> Any:
    """``await call(hook)`` on a new :class:`TaqnyatAsyncHook` in a new event loop."""

    async def scenario() -> Any:
        async with TaqnyatAsyncHook(**hook_options) as hook:
            return await call(hook)

    return asyncio.run(scenario())


AUDIO = "https://cdn.example.com/alert.mp3"


def call_sync() -> None:
    """One voice call to one number through the sync hook on ``taqnyat_default``."""
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook

    hook = TaqnyatHook()
    try:
        hook.place_voice_calls(AUDIO, ["966500000000"])
    finally:
        hook.close()


def call_async() -> None:
    """The same call through the async hook."""
    run_async_hook(lambda hook: hook.place_voice_calls(AUDIO, ["966500000000"]))
