"""
Where the send ledger lives in Airflow: the task state store (Airflow 3.3+), else Variables.

**Airflow 3.3+: the task's own task state store** (AIP-103, ``context["task_state_store"]``). It is
the primitive built for this: key/value state per (DAG run, task, map index) that every try of the
task instance shares, on any worker; ``get`` raises on every error but "not found"; each key has its
own retention; rows go with their DAG run; and a person sees (and can edit) them in the task
instance's **Storage** tab and through the REST API. Nothing else fits as well: XComs are cleared
when a new try starts, Variables are global (one namespace for every DAG, read through the secrets
backends, swept by hand), and a table of our own would need migrations and a UI.

Rows written while a send is under way are kept until somebody deletes them (``NEVER_EXPIRE``): any
of them may say that a batch was in flight, and an unfinished send must outlive every cleanup until a
person resolves it. A complete send's header is rewritten with Airflow's default retention
(``[state_store] default_retention_days``); its batch rows go with the DAG run (``airflow db clean``)
or at once with ``[state_store] clear_on_success``.

**Airflow 2.11 to 3.2: Variables**, one per key, named ``taqnyat_ledger.<hash of who sends>`` (and
``….batch.NNNNN``). Reads go to the metadata database (2.11) or the API server (3.x) directly, never
through the secrets backends, so an unreadable entry is an error and not "no entry", and no
backend is queried per batch. Complete entries are removed, by a later successful send, once
``retention_days`` have passed since they were last written; unfinished ones stay until a person
deletes them. Airflow 3.0 to 3.2 cannot list Variables from a task: there nothing is swept (see the
delivery docs for the one command that does it).

Entries hold no token and no phone numbers but rejected ones (see :mod:`taqnyat_provider.core.ledger`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from taqnyat_provider.core.ledger import (
    COMPLETE,
    DEFAULT_RETENTION_DAYS,
    VARIABLE_PREFIX,
    Ledger,
    ledger_secret,
    variable_space,
)
from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS

TASK_STATE_SPACE = "taqnyat"
"""The prefix of the ledger's keys in a task instance's task state store."""


class TaskStateLedgerStore:
    """A :class:`~taqnyat_provider.core.ledger.LedgerStore` on a task instance's ``task_state_store``."""

    blocking = True

    def __init__(self, accessor: Any) -> None:
        self.accessor = accessor

    def get(self, key: str) -> dict[str, Any] | None:
        value = self.accessor.get(key)  # raises on every error but "not found"
        if value is not None and not isinstance(value, dict):
            raise ValueError(
                f"the task state store key {key!r} holds a {type(value).__name__}, not an object"
            )
        return value

    def put(self, key: str, value: dict[str, Any], *, keep: bool) -> None:
        from airflow.sdk.execution_time.context import NEVER_EXPIRE

        self.accessor.set(key, value, retention=NEVER_EXPIRE if keep else None)


class VariableLedgerStore:
    """A :class:`~taqnyat_provider.core.ledger.LedgerStore` on Airflow Variables (before Airflow 3.3)."""

    blocking = True

    def get(self, key: str) -> dict[str, Any] | None:
        text = _read_variable(key)
        if text is None:
            return None
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError(f"the Airflow Variable {key!r} holds a {type(value).__name__}, not an object")
        return value  # type: ignore[no-any-return]

    def put(self, key: str, value: dict[str, Any], *, keep: bool) -> None:
        # A complete header says when it completed in its description, which is not encrypted:
        # the sweep finds expired entries with one query, decrypting nothing.
        complete = ".batch." not in key and value.get("status") == COMPLETE
        description = f"{_COMPLETE_AT}{value.get('updated', '')}" if complete else _DESCRIPTION
        _write_variable(key, json.dumps(value, separators=(",", ":")), description)


_DESCRIPTION = "Taqnyat send ledger (see the provider's delivery docs before changing it)"
_COMPLETE_AT = "Taqnyat send ledger, complete at "


def _read_variable(key: str) -> str | None:
    """The Variable's text, None when there is none; raises when it cannot be read."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult
        from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

        # Straight to the API server: Variable.get would try every secrets backend first and take
        # an error anywhere on the way for "no such Variable".
        answer = SUPERVISOR_COMMS.send(GetVariable(key=key))
        if isinstance(answer, ErrorResponse):
            if answer.error == ErrorType.VARIABLE_NOT_FOUND:
                return None
            raise AirflowRuntimeError(answer)
        if not isinstance(answer, VariableResult):
            raise TypeError(f"unexpected answer to reading the Variable {key!r}: {type(answer).__name__}")
        return None if answer.value is None else str(answer.value)
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(VariableModel).filter(VariableModel.key == key).one_or_none()
        return None if row is None else str(row.val)


def _write_variable(key: str, text: str, description: str = _DESCRIPTION) -> None:
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Variable

        Variable.set(key, text, description=description)
        return
    # One upsert in the metadata database: 2.11's Variable.set also asks every secrets backend
    # whether it holds the key, on every write.
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    row = VariableModel(key=key, val=text, description=description)  # encrypts, as Variable.set does
    with create_session() as session:
        # An UPDATE first, an INSERT only for a new key: one statement per batch, no read.
        updated = (
            session.query(VariableModel)
            .filter(VariableModel.key == key)
            .update(
                {
                    VariableModel._val: row._val,
                    VariableModel.is_encrypted: row.is_encrypted,
                    VariableModel.description: description,
                },
                synchronize_session=False,
            )
        )
        if not updated:
            session.add(row)


def task_ledger(context: Any, token: str, scope: str = "send") -> Ledger:
    """
    The ledger of this task instance's send (``scope`` tells apart several sends of one task).

    ``token`` is the connection's: it keys the entry's digest (see
    :func:`~taqnyat_provider.core.ledger.ledger_secret`).
    """
    ti = context["ti"]
    map_index = ti.map_index if ti.map_index is not None else -1
    label = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}" + (f"[{map_index}]" if map_index >= 0 else "")
    accessor = context.get("task_state_store") if hasattr(context, "get") else None
    if accessor is not None:
        store: Any = TaskStateLedgerStore(accessor)
        space = f"{TASK_STATE_SPACE}.{scope}"
        where = f"the Storage tab of task instance {label}"
    else:
        store = VariableLedgerStore()
        space = variable_space(
            dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=map_index, scope=scope
        )
        where = "Airflow Variables"
    return Ledger(
        store,
        space,
        epoch=int(ti.max_tries or 0),
        try_number=int(ti.try_number or 1),
        label=f"{label} ({scope})",
        secret=ledger_secret(token),
        where=where,
    )


def send_started(ledger: Ledger) -> bool:
    """Whether an earlier try began this send (its header exists); raises when that cannot be read."""
    return ledger.store.get(ledger.head_key) is not None


def sweep(ledger: Ledger, log: Any, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
    """
    Remove complete Variable entries last written more than ``retention_days`` ago.

    Only the Variables store needs it (Airflow cleans its task state store itself), and only where a
    task can list Variables: Airflow 2.11, and Airflow 3.x once its Task SDK has ``Variable.keys``.
    A failure is logged, never raised: the send it follows is done.
    """
    if not isinstance(ledger.store, VariableLedgerStore):
        return
    oldest = datetime.now(UTC) - timedelta(days=retention_days)
    try:
        for space in _expired_spaces(oldest):
            log.info(
                "Removing the send ledger %s: complete, last written over %d days ago", space, retention_days
            )
            _delete_space(space)
    except Exception as error:
        log.warning("Could not remove old send ledger entries: %s", error)


def _expired_spaces(oldest: datetime) -> Iterator[str]:
    if not AIRFLOW_V_3_0_PLUS:
        yield from _expired_in_database(oldest)
        return
    for key, text in _headers():
        try:
            header = json.loads(text)
            updated = datetime.fromisoformat(header["updated"])
        except (ValueError, KeyError, TypeError):
            continue  # not ours to judge: a person edits or deletes it
        if header.get("status") == COMPLETE and updated < oldest:
            yield key


def _expired_in_database(oldest: datetime) -> list[str]:
    """Airflow 2.11: complete headers last written before ``oldest``, by their description alone."""
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    cutoff = f"{_COMPLETE_AT}{oldest.isoformat(timespec='seconds')}"  # ISO times sort as text
    with create_session() as session:
        rows = session.query(VariableModel.key).filter(
            VariableModel.key.startswith(VARIABLE_PREFIX, autoescape=True),
            VariableModel.description.startswith(_COMPLETE_AT, autoescape=True),
            VariableModel.description < cutoff,
        )
        return [row.key for row in rows if ".batch." not in row.key]


def _headers() -> list[tuple[str, str]]:
    """Airflow 3.x: every ledger header Variable a task can list (3.3's Task SDK lists keys), with its text."""
    from airflow.sdk import Variable

    list_keys = getattr(Variable, "keys", None)
    if list_keys is None:  # Airflow 3.0 to 3.2: no listing from a task
        return []
    headers = [key for key in list_keys(prefix=VARIABLE_PREFIX) if ".batch." not in key]
    return [(key, text) for key in headers if (text := _read_variable(key)) is not None]


def _delete_space(space: str) -> None:
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Variable

        for key in Variable.keys(prefix=f"{space}.batch."):  # type: ignore[attr-defined]
            Variable.delete(key)
        Variable.delete(space)
        return
    from airflow.models.variable import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(VariableModel).filter(
            (VariableModel.key == space) | VariableModel.key.startswith(f"{space}.batch.", autoescape=True)
        ).delete(synchronize_session=False)
