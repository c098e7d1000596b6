"""The few places where Airflow 2.11 and 3.x differ for this provider, kept out of the glue code."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS

__all__ = ["AIRFLOW_V_3_0_PLUS", "AIRFLOW_V_3_1_PLUS", "notifier_init_kwargs"]


def notifier_init_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """BaseNotifier takes keyword arguments only from Airflow 3.1 on."""
    return kwargs if AIRFLOW_V_3_1_PLUS else {}
