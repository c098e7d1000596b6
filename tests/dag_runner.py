"""Run a DAG written as source text with ``dag.test()`` and read back what happened."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import DAGS_FOLDER


@dataclass
class TaskOutcome:
    state: str | None
    try_number: int


@dataclass
class DagOutcome:
    dag_id: str
    run_id: str
    state: str
    tasks: dict[str, TaskOutcome] = field(default_factory=dict)

    def task(self, task_id: str, map_index: int = -1) -> TaskOutcome:
        return self.tasks[task_id if map_index < 0 else f"{task_id}[{map_index}]"]

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        try:
            from airflow.models.xcom import XComModel
        except ImportError:  # Airflow 2
            from airflow.models.xcom import XCom

            return XCom.get_one(
                run_id=self.run_id, key=key, task_id=task_id, dag_id=self.dag_id, map_index=map_index
            )
        from airflow.utils.session import create_session

        with create_session() as session:
            row = session.scalars(
                XComModel.get_many(
                    run_id=self.run_id, dag_ids=self.dag_id, task_ids=task_id, key=key, map_indexes=map_index
                )
            ).first()
            return None if row is None else XComModel.deserialize_value(row)


EXAMPLE_DAGS = Path(__file__).resolve().parent.parent / "example_dags"


def write_dag(source: str, dag_id: str) -> Path:
    path = DAGS_FOLDER / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source).replace("__DAG_ID__", dag_id))
    return path


def run_example(name: str, *, run_conf: dict[str, Any] | None = None) -> DagOutcome:
    """Test the example DAG ``example_dags/<name>.py``, whose dag_id is its file name."""
    return run_dag((EXAMPLE_DAGS / f"{name}.py").read_text(), dag_id=name, run_conf=run_conf)


def run_dag(
    source: str,
    *,
    dag_id: str | None = None,
    run_conf: dict[str, Any] | None = None,
    test: Callable[[Any], Any] | None = None,
) -> DagOutcome:
    """
    Write ``source`` into the dags folder and test the DAG: either its dag_id is ``dag_id``, or the
    source says ``"__DAG_ID__"`` and a fresh id is put there.

    ``test`` runs the loaded DAG and returns its DagRun (default: ``dag.test(run_conf=run_conf)``).
    The file is removed afterwards so later tests do not parse it again.
    """
    dag_id = dag_id or f"test_{uuid.uuid4().hex[:12]}"
    path = write_dag(source, dag_id)
    try:
        spec = importlib.util.spec_from_file_location(f"test_dag_{dag_id}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        dag = next(value for value in vars(module).values() if getattr(value, "dag_id", None) == dag_id)
        dag_run = test(dag) if test else dag.test(run_conf=run_conf)
        outcome = DagOutcome(dag_id=dag_id, run_id=dag_run.run_id, state=str(dag_run.state))
        for ti in dag_run.get_task_instances():
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            outcome.tasks[key] = TaskOutcome(
                state=str(ti.state) if ti.state else None, try_number=ti.try_number
            )
        return outcome
    finally:
        path.unlink(missing_ok=True)
        sys.modules.pop(f"test_dag_{dag_id}", None)
