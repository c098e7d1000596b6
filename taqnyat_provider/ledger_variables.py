"""
The send ledger in Airflow Variables: durable across tries and workers, reachable from task code.

Why Variables: a ledger must outlive the try (XComs are cleared when a new try starts) and the
worker (Celery and Kubernetes run the next try elsewhere), and task code must reach it on Airflow
2.11 and 3.x alike without touching the ORM, which Airflow 3 forbids. Variables written through the
Task SDK (Airflow 3: the API server; 2.11: the metadata database) are all three, cost one small
write per batch state, and an administrator can read or delete an entry in the UI. Entries hold no
token and no phone numbers but rejected ones (see :mod:`taqnyat_provider.ledger`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from airflow.providers.common.compat.sdk import Variable

from taqnyat_provider.ledger import DEFAULT_RETENTION_DAYS, KEY_PREFIX, Ledger, expired_keys, ledger_key
from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS


class VariableLedgerStore:
    """A :class:`~taqnyat_provider.ledger.LedgerStore` on Airflow Variables."""

    def load(self, key: str) -> str | None:
        # Positional default: Airflow 2 calls it ``default_var``, Airflow 3 ``default``.
        value = Variable.get(key, None)
        return None if value is None else str(value)

    def save(self, key: str, value: str, description: str) -> None:
        Variable.set(key, value, description=description)

    def delete(self, key: str) -> None:
        Variable.delete(key)

    def keys(self, prefix: str) -> Sequence[str]:
        if AIRFLOW_V_3_0_PLUS:
            list_keys = getattr(Variable, "keys", None)  # the Task SDK lists keys from Airflow 3.3 on
            return list(list_keys(prefix=prefix)) if list_keys else []
        from airflow.models.variable import Variable as VariableModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(VariableModel.key).filter(VariableModel.key.like(f"{prefix}%")).all()
            return [row[0] for row in rows]


def _run_day(context: Any) -> date:
    """The run's date, the same for every try: when it was due to run (3.x) or its logical date (2.x)."""
    dag_run = context.get("dag_run")
    moment = getattr(dag_run, "run_after", None) or context.get("logical_date")
    moment = moment or getattr(dag_run, "execution_date", None) or getattr(dag_run, "start_date", None)
    return moment.date() if isinstance(moment, datetime) else datetime.now(UTC).date()


def task_ledger(context: Any, scope: str = "send") -> Ledger:
    """The ledger entry of this task instance's send (``scope`` tells apart several sends of one task)."""
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    label = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}" + (f"[{map_index}]" if map_index >= 0 else "")
    return Ledger(
        VariableLedgerStore(),
        ledger_key(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=map_index,
            day=_run_day(context),
            scope=scope,
        ),
        epoch=int(ti.max_tries or 0),
        try_number=int(ti.try_number or 1),
        label=f"{label} ({scope})",
    )


def forget(ledger: Ledger, log: Any, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
    """
    A send finished: drop its entry, and any entry whose run is older than ``retention_days``.

    Entries left behind are those of sends that never finished (a batch's outcome unknown and the
    task never re-run); they are evidence for whoever checks the account, until they expire.
    """
    store = ledger.store
    try:
        store.delete(ledger.key)
        list_keys = getattr(store, "keys", None)
        if list_keys is not None:
            today = datetime.now(UTC).date()
            for key in expired_keys(list_keys(KEY_PREFIX), today, retention_days):
                log.info("Removing the expired send ledger %s (older than %d days)", key, retention_days)
                store.delete(key)
    except Exception as error:  # the send is done: a cleanup failure must not fail (and retry) it
        log.warning("Could not clean up the send ledger %s: %s", ledger.key, error)
