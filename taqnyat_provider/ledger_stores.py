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
backend is queried per batch. On 2.11 (:class:`MetadataLedgerStore`) a send's reads and writes share
one database connection, each write its own transaction. Complete entries are removed, by a later
successful send, once ``retention_days`` have passed since they were last written; unfinished ones
stay until a person deletes them. Airflow 3.0 to 3.2 cannot list Variables from a task: there nothing is swept (see the
delivery docs for the one command that does it).

Entries hold no token and no phone numbers but rejected ones (see :mod:`taqnyat_provider.core.ledger`).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

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
    """
    A :class:`~taqnyat_provider.core.ledger.LedgerStore` on Airflow Variables (Airflow 3.0 to 3.2),
    through the Task SDK: each call is one request to the API server.
    """

    blocking = True

    def get(self, key: str) -> dict[str, Any] | None:
        return _parsed(key, _read_variable(key))

    def put(self, key: str, value: dict[str, Any], *, keep: bool) -> None:
        _write_variable(key, *_stored(key, value))


class MetadataLedgerStore:
    """
    A :class:`~taqnyat_provider.core.ledger.LedgerStore` on Airflow Variables in the metadata database
    (Airflow 2.11), read and written straight there with one statement each, never through the
    secrets backends.

    While a send runs (:meth:`holding`) its reads and writes share one database connection: a task
    process on 2.11 has no connection pool (``airflow tasks run`` turns it off), so each session
    would open a new connection — a TCP connection and a login on PostgreSQL or MySQL, the schema
    read again on SQLite. Each write is still its own transaction, committed before the call
    returns: as durable as ``Variable.set``.

    A send that completes in the block also looks, on the same connection, for old complete entries
    to remove (:attr:`expired`), which :func:`sweep` then removes and logs.
    """

    blocking = True

    def __init__(self) -> None:
        # (thread, connection) while a send holds one; the connection opens on first use and only
        # the thread that holds it uses it (a SQLite connection belongs to its thread).
        self._held: tuple[int, Any] | None = None
        self._present: set[str] = set()  # keys this store read or wrote: updated, the others inserted
        self._completed = False
        self.expired: list[str] | Exception | None = None
        """Headers of complete entries past the default retention, found as a send completed."""

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Share one connection among the calls made in this thread until the block ends."""
        if self._held is not None:  # already held (a send inside a send's block): theirs to close
            yield
            return
        self._held = (threading.get_ident(), None)
        self._completed = False
        try:
            yield
            if self._completed:
                oldest = datetime.now(UTC) - timedelta(days=DEFAULT_RETENTION_DAYS)
                try:
                    with self._transaction() as connection:
                        self.expired = _expired_headers(connection, oldest)
                except Exception as error:  # the send is done: sweep() logs it
                    self.expired = error
        finally:
            _, connection = self._held
            self._held = None
            if connection is not None:
                with suppress(Exception):  # closing never fails the send it ends
                    connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A connection in a transaction, committed when the block ends (rolled back on an error)."""
        held = self._held
        if held is None or held[0] != threading.get_ident():
            with _engine().begin() as connection:
                yield connection
            return
        connection = held[1]
        if connection is None:
            connection = _engine().connect()
            self._held = (held[0], connection)
        try:
            with connection.begin():
                yield connection
        except BaseException as error:
            from sqlalchemy.exc import IntegrityError

            if not isinstance(error, IntegrityError):
                # The next call starts on a new connection: this one may be broken.
                self._held = (held[0], None)
                with suppress(Exception):
                    connection.close()
            raise

    def get(self, key: str) -> dict[str, Any] | None:
        with self._transaction() as connection:
            row = connection.execute(_statements().read, {"k": key}).first()
        if row is None:
            self._present.discard(key)
            return None
        self._present.add(key)
        text, encrypted = row
        if text is not None and encrypted:
            from airflow.models.crypto import get_fernet

            # Variable.get_val would log and return None for a value it cannot decrypt: here that
            # raises, and the send stops (an unreadable ledger is never read as empty).
            text = get_fernet().decrypt(text.encode()).decode()
        return _parsed(key, text)

    def put(self, key: str, value: dict[str, Any], *, keep: bool) -> None:
        """One statement in its own transaction, committed before this returns."""
        text, description = _stored(key, value)
        try:
            # An UPDATE of a key this store read or wrote, an INSERT of any other (a send's batch
            # keys are new: an UPDATE first would find nothing, every batch).
            with self._transaction() as connection:
                _upsert(connection, key, text, description, exists=key in self._present)
        except Exception as error:
            from sqlalchemy.exc import IntegrityError

            if not isinstance(error, IntegrityError):
                raise
            # A key taken for new exists (written by someone else): nothing was written; again,
            # updated, and inserted only if the update found none.
            with self._transaction() as connection:
                _upsert(connection, key, text, description, exists=None)
        self._present.add(key)
        self._completed = self._completed or description.startswith(_COMPLETE_AT)


def _engine() -> Any:
    """Airflow 2.11's metadata database (the task process's own engine, without a pool)."""
    from airflow import settings

    if settings.engine is None:
        raise RuntimeError("this process has no connection to Airflow's metadata database")
    return settings.engine


def _parsed(key: str, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"the Airflow Variable {key!r} holds a {type(value).__name__}, not an object")
    return value  # type: ignore[no-any-return]


def _stored(key: str, value: dict[str, Any]) -> tuple[str, str]:
    """A value's text and description as a Variable."""
    # A complete header says when it completed in its description, which is not encrypted:
    # the sweep finds expired entries with one query, decrypting nothing.
    complete = ".batch." not in key and value.get("status") == COMPLETE
    description = f"{_COMPLETE_AT}{value.get('updated', '')}" if complete else _DESCRIPTION
    return json.dumps(value, separators=(",", ":")), description


def _upsert(connection: Any, key: str, text: str, description: str, exists: bool | None) -> None:
    """
    One Variable written on ``connection``: INSERTed at once when ``exists`` is False (a key that
    is there after all raises ``IntegrityError``); else UPDATEd, and INSERTed if that found no row.
    """
    from airflow.models.crypto import get_fernet

    fernet = get_fernet()  # encrypted as Variable.set encrypts (its set_val)
    values = {
        "k": key,
        "val": fernet.encrypt(text.encode()).decode(),
        "encrypted": fernet.is_encrypted,
        "d": description,
    }
    statements = _statements()
    if exists is not False and connection.execute(statements.update, values).rowcount:
        return
    connection.execute(statements.insert, values)


class _Statements(NamedTuple):
    read: Any
    update: Any
    insert: Any


@functools.cache
def _statements() -> _Statements:
    """The store's three statements, built once: a send runs them for every batch."""
    from airflow.models.variable import Variable as VariableModel
    from sqlalchemy import bindparam, insert, select, update

    table = VariableModel.__table__
    values: dict[str, Any] = {
        "val": bindparam("val"),
        "is_encrypted": bindparam("encrypted"),
        "description": bindparam("d"),
    }
    return _Statements(
        read=select(table.c.val, table.c.is_encrypted).where(table.c.key == bindparam("k")),
        update=update(table).where(table.c.key == bindparam("k")).values(**values),
        insert=insert(table).values(key=bindparam("k"), **values),
    )


_DESCRIPTION = "Taqnyat send ledger (see the provider's delivery docs before changing it)"
_COMPLETE_AT = "Taqnyat send ledger, complete at "


def _read_variable(key: str) -> str | None:
    """Airflow 3.0 to 3.2: the Variable's text, None when there is none; raises when it cannot be read."""
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


def _write_variable(key: str, text: str, description: str = _DESCRIPTION) -> None:
    """Airflow 3.0 to 3.2: one Variable written through the API server."""
    from airflow.sdk import Variable

    Variable.set(key, text, description=description)


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
        store = VariableLedgerStore() if AIRFLOW_V_3_0_PLUS else MetadataLedgerStore()
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
    On 2.11 a send that just completed has looked for them already, on its own connection
    (:attr:`MetadataLedgerStore.expired`). A failure is logged, never raised: the send it follows
    is done.
    """
    store = ledger.store
    if not isinstance(store, (VariableLedgerStore, MetadataLedgerStore)):
        return
    oldest = datetime.now(UTC) - timedelta(days=retention_days)
    try:
        found = None
        if isinstance(store, MetadataLedgerStore) and retention_days == DEFAULT_RETENTION_DAYS:
            found, store.expired = store.expired, None
        if isinstance(found, Exception):
            raise found
        for space in _expired_spaces(oldest) if found is None else found:
            log.info(
                "Removing the send ledger %s: complete, last written over %d days ago", space, retention_days
            )
            _delete_space(space)
    except Exception as error:
        log.warning("Could not remove old send ledger entries: %s", error)


def _expired_spaces(oldest: datetime) -> Iterator[str]:
    if not AIRFLOW_V_3_0_PLUS:
        with _engine().begin() as connection:
            expired = _expired_headers(connection, oldest)
        yield from expired
        return
    for key, text in _headers():
        try:
            header = json.loads(text)
            updated = datetime.fromisoformat(header["updated"])
        except (ValueError, KeyError, TypeError):
            continue  # not ours to judge: a person edits or deletes it
        if header.get("status") == COMPLETE and updated < oldest:
            yield key


def _expired_headers(connection: Any, oldest: datetime) -> list[str]:
    """Airflow 2.11: complete headers last written before ``oldest``, by their description alone."""
    from airflow.models.variable import Variable as VariableModel
    from sqlalchemy import select

    table = VariableModel.__table__
    cutoff = f"{_COMPLETE_AT}{oldest.isoformat(timespec='seconds')}"  # ISO times sort as text
    rows = connection.execute(
        select(table.c.key).where(
            table.c.key.startswith(VARIABLE_PREFIX, autoescape=True),
            table.c.description.startswith(_COMPLETE_AT, autoescape=True),
            table.c.description < cutoff,
        )
    )
    return [key for (key,) in rows if ".batch." not in key]


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
