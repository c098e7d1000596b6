"""A deferrable wait for Taqnyat to report every service operational."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from taqnyat_provider.core.connection_settings import DEFAULT_CONN_ID
from taqnyat_provider.hooks.off_loop import import_off_the_loop

STATUS_SUCCESS = "success"
STATUS_ERROR = "error"
STATUS_TIMEOUT = "timeout"
HOOK_MODULE = "taqnyat_provider.hooks.taqnyat_async"


class TaqnyatStatusTrigger(BaseTrigger):
    """
    Poll ``GET /system/status/`` every ``poll_interval`` seconds until Taqnyat is operational.

    Thousands share one triggerer loop, so a trigger holds one aiohttp session for its whole wait,
    keeps only the last status, and never blocks. Transient trouble (connection errors, timeouts,
    5xx, unreadable bodies) is logged and polling goes on; only a broken configuration ends the
    wait with an error event.

    :param taqnyat_conn_id: The ``taqnyat`` connection (only its host is used: no token is sent).
    :param poll_interval: Seconds between polls.
    :param deadline: Unix time after which the wait ends with a ``timeout`` event. The triggerer
        enforces the task's deferral timeout too; this one also holds where nothing else does
        (``airflow dags test`` runs triggers inline without one).
    """

    def __init__(
        self,
        taqnyat_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.taqnyat_conn_id = taqnyat_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "taqnyat_conn_id": self.taqnyat_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hooks = await import_off_the_loop(HOOK_MODULE)
            async with hooks.TaqnyatAsyncHook(self.taqnyat_conn_id) as hook:
                while True:
                    poll = await hook.poll_system_status()  # a broken configuration raises
                    (self.log.warning if poll.trouble else self.log.info)("%s", poll.message)
                    if poll.done:
                        yield TriggerEvent({"status": STATUS_SUCCESS, "system_status": poll.status.to_dict()})
                        return
                    remaining = math.inf if self.deadline is None else self.deadline - time.time()
                    if remaining <= 0:
                        yield TriggerEvent(
                            {
                                "status": STATUS_TIMEOUT,
                                "message": "Taqnyat was not operational before the deadline",
                            }
                        )
                        return
                    await asyncio.sleep(min(self.poll_interval, remaining))
        except Exception as error:
            yield TriggerEvent({"status": STATUS_ERROR, "message": f"{type(error).__name__}: {error}"})
