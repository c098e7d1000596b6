"""Wait until Taqnyat reports every service operational."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from taqnyat_provider.core.connection_settings import DEFAULT_CONN_ID
from taqnyat_provider.core.errors import TaqnyatConfigurationError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class TaqnyatStatusSensor(BaseSensorOperator):
    """
    Succeed when ``GET /system/status/`` says all services are operational.

    Otherwise log the affected service and keep waiting. Connection errors, timeouts, 5xx and
    unreadable answers are logged and never fail the sensor by themselves; ``timeout``,
    ``soft_fail``, ``mode="reschedule"`` and ``exponential_backoff`` work as for any sensor. The
    last status (``operational``, ``service``, ``description``) goes to XCom.

    :param taqnyat_conn_id: The ``taqnyat`` connection (the status call sends no token); templated.
    :param deferrable: Wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = ("taqnyat_conn_id",)
    ui_color = "#fdf3d8"

    def __init__(
        self,
        *,
        taqnyat_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.taqnyat_conn_id = taqnyat_conn_id
        self.deferrable = deferrable

    def poke(self, context: Context) -> PokeReturnValue:
        from taqnyat_provider.airflow_errors import to_airflow
        from taqnyat_provider.hooks.taqnyat import TaqnyatHook

        hook = TaqnyatHook(self.taqnyat_conn_id)
        try:
            poll = hook.poll_system_status()
        except TaqnyatConfigurationError as error:
            raise to_airflow(error) from error
        finally:
            hook.close()
        (self.log.warning if poll.trouble else self.log.info)("%s", poll.message)
        return PokeReturnValue(is_done=poll.done, xcom_value=poll.status.to_dict() if poll.status else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        from taqnyat_provider.triggers.status import TaqnyatStatusTrigger

        self.defer(
            trigger=TaqnyatStatusTrigger(
                taqnyat_conn_id=self.taqnyat_conn_id,
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from taqnyat_provider.triggers.status import STATUS_SUCCESS, STATUS_TIMEOUT

        if event and event.get("status") == STATUS_TIMEOUT:
            raise AirflowSensorTimeout(f"Sensor has timed out after {self.timeout} s: {event.get('message')}")
        if not event or event.get("status") != STATUS_SUCCESS:
            message = (event or {}).get("message", "no event")
            raise AirflowException(
                f"Waiting for Taqnyat to be operational failed in the triggerer: {message}"
            )
        status = event["system_status"]
        self.log.info("Taqnyat is operational: %s", status.get("description"))
        return status
