"""DAG runs with a chosen run type and due time, and a stand-in clock for the send operators."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS
from tests.dag_runner import DagOutcome, run_dag


class Clock:
    """The operators' ``utcnow``: gives each time in turn, then keeps the last one."""

    def __init__(self, *times: datetime) -> None:
        self.times = list(times)
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def stand_clock(monkeypatch: pytest.MonkeyPatch, *times: datetime) -> Clock:
    from taqnyat_provider.operators import base

    clock = Clock(*times)
    monkeypatch.setattr(base, "utcnow", clock)
    return clock


@contextmanager
def scheduled_runs(monkeypatch: pytest.MonkeyPatch, due: datetime) -> Iterator[None]:
    """
    Make ``dag.test()`` create a *scheduled* run due at ``due`` (it creates manual ones), as the
    scheduler would: the run's type and due time are what the lateness guard reads, through the
    real task context. On 2.11 a scheduled run is due when its data interval ends, which
    ``dag.test()`` would otherwise infer as a manual run's (the last cron boundary, say).
    """
    from airflow.utils.types import DagRunType

    if AIRFLOW_V_3_0_PLUS:
        from airflow.serialization.definitions.dag import SerializedDAG as Dag
    else:
        from airflow.models.dag import DAG as Dag  # type: ignore[assignment]
    create = Dag.create_dagrun

    def create_scheduled(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["run_type"] = DagRunType.SCHEDULED
        kwargs["run_id"] = "scheduled__" + kwargs["run_id"].split("__", 1)[-1]
        if not AIRFLOW_V_3_0_PLUS:
            kwargs["data_interval"] = (due, due)
        return create(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Dag, "create_dagrun", create_scheduled)
        yield


def run_dag_due(
    source: str, due: datetime, *, scheduled: bool, monkeypatch: pytest.MonkeyPatch
) -> DagOutcome:
    """Test the DAG in ``source`` (``"__DAG_ID__"`` gets a fresh id) as a run that was due at ``due``."""
    # Airflow 3: the run may start from ``run_after``; 2.11: its data interval ends at the logical date.
    when = {"run_after": due, "logical_date": due} if AIRFLOW_V_3_0_PLUS else {"execution_date": due}

    def test(dag: Any) -> Any:
        if not scheduled:
            return dag.test(**when)
        with scheduled_runs(monkeypatch, due):
            return dag.test(**when)

    return run_dag(source, test=test)
