"""
The path users take: the voice operator as a task in a DAG run (``airflow dags test``), beside an
empty task, raw batched ``requests`` posts of the same bodies, and one durable store write.

``benchmarks/run.py`` calls :func:`measure` once per Airflow venv. Each call migrates a throwaway
SQLite metadata database in its own ``AIRFLOW_HOME``, writes one DAG whose tasks run one after
another (interleaved: an empty task, raw posts, the provider, again, for each size and repeat), runs
``airflow dags test`` on it in a fresh process of that venv against the sandbox, and reads back:

- each task's time from its task instance's ``start_date``/``end_date`` in the metadata database, and
  from inside the task (``time.perf_counter`` from the ``pre_execute`` hook to ``on_success_callback``:
  ``execute``, the operator's own ``post_execute``, the return value's XCom push and the state
  change), which scheduling between tasks cannot blur;
- the median of repeated single store writes of a small dict, timed inside a task:
  ``context["task_state_store"].set`` on Airflow >= 3.3, ``Variable.set`` on every version;
- the delivery engine's ``Send ledger: <W> writes, <B> bytes written, <K> bytes kept`` line from each
  provider task's log (absent on a provider that does not write it: reported as n/a).
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

BATCH_SIZE = 100
DAG_ID = "taqnyat_bench_dag_runs"
DAG_TEST_LINE = re.compile(
    r"^\[?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?).*\[DAG TEST\] (starting|end task) task_id=(\S+)", re.M
)
LEDGER_LINE = re.compile(r"Send ledger: (\d+) writes, (\d+) bytes written, (\d+) bytes kept")

DAG_SOURCE = '''
"""Written by benchmarks/dag_runs.py: tasks one after another, each timed from inside."""
import json, os, statistics, time

import pendulum

try:  # Airflow 3
    from airflow.sdk import DAG, Variable, chain, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.baseoperator import chain
    from airflow.models.variable import Variable

from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

PLAN = {plan!r}
WRITES = {writes}
STORE = {store!r}  # the floor's store write, also the crash-safe loop's
BASE, TOKEN, AUDIO, CALLER_ID = {base!r}, {token!r}, {audio!r}, {caller_id!r}
RESULTS = os.environ["TAQNYAT_BENCH_RESULTS"]
NUMBERS = {{size: [f"9665{{n:08d}}" for n in range(size)] for size in sorted({{s for _, _, s in PLAN if s}})}}
_started = {{}}


def _record(task_id, **values):
    with open(RESULTS, "a") as out:
        out.write(json.dumps({{"task_id": task_id, **values}}) + "\\n")


def _pre_execute(context):
    _started[context["ti"].task_id] = time.perf_counter()


def _post_execute(context, result=None):
    task_id = context["ti"].task_id
    _record(task_id, execute=time.perf_counter() - _started[task_id])


def _on_success(context):
    task_id = context["ti"].task_id
    _record(task_id, in_task=time.perf_counter() - _started[task_id])


def _raw_posts(size):
    import requests

    numbers = NUMBERS[size]
    body = {{"callerId": CALLER_ID, "audioUrl": AUDIO}}
    headers = {{"Authorization": f"Bearer {{TOKEN}}", "Accept": "application/json"}}
    with requests.Session() as session:
        for start in range(0, len(numbers), {batch}):
            response = session.post(
                f"{{BASE}}/voiceSend.php/",
                json={{"recipients": numbers[start:start + {batch}], **body}},
                headers=headers,
            )
            response.raise_for_status()
            response.json()


def _crash_safe_loop(context, size):
    """
    The least a send that survives a crash between batches can do, written by hand: read the
    header (absent), write it naming batch 1 in flight, then per batch one raw POST and one write
    ("batch k delivered", naming batch k+1 in flight), each batch its own key.
    """
    import requests

    task_id = context["ti"].task_id
    store = context.get("task_state_store") if STORE == "task_state_store" else None
    if store is not None:
        from airflow.sdk.execution_time.context import NEVER_EXPIRE

        def read(key):
            return store.get(key)

        def write(key, value):
            store.set(key, value, retention=NEVER_EXPIRE)
    else:
        def read(key):
            return Variable.get(f"bench_loop.{{task_id}}.{{key}}", None)

        def write(key, value):
            Variable.set(f"bench_loop.{{task_id}}.{{key}}", json.dumps(value))
    numbers = NUMBERS[size]
    body = {{"callerId": CALLER_ID, "audioUrl": AUDIO}}
    headers = {{"Authorization": f"Bearer {{TOKEN}}", "Accept": "application/json"}}
    if read("head") is not None:
        raise RuntimeError("a fresh send found a header")
    write("head", {{"total": -(-size // {batch}), "next": 1}})
    with requests.Session() as session:
        for number, start in enumerate(range(0, len(numbers), {batch}), start=1):
            response = session.post(
                f"{{BASE}}/voiceSend.php/",
                json={{"recipients": numbers[start:start + {batch}], **body}},
                headers=headers,
            )
            response.raise_for_status()
            answer = response.json()
            following = number + 1 if start + {batch} < len(numbers) else None
            write(f"batch.{{number:05d}}", {{"state": "delivered", "answer": str(answer)[:40], "next": following}})


def _alternation(context, rounds=60):
    """
    Raw POSTs back to back, then alternating with store writes (the floor's two halves, timed as a
    send runs them): the medians of a POST alone, a POST right after a write, a write between POSTs.
    """
    import requests

    store = context.get("task_state_store") if STORE == "task_state_store" else None
    body = {{"callerId": CALLER_ID, "audioUrl": AUDIO}}
    headers = {{"Authorization": f"Bearer {{TOKEN}}", "Accept": "application/json"}}
    numbers = NUMBERS[min(NUMBERS)]
    alone, after, between = [], [], []
    with requests.Session() as session:
        def post():
            start = time.perf_counter()
            response = session.post(
                f"{{BASE}}/voiceSend.php/", json={{"recipients": numbers[:{batch}], **body}}, headers=headers
            )
            response.raise_for_status()
            response.json()
            return time.perf_counter() - start
        for _ in range(rounds):
            alone.append(post())
        for i in range(rounds):
            value = {{"batch": i, "state": "delivered", "message_id": f"V-{{5452900000 + i}}", "accepted": 100}}
            start = time.perf_counter()
            if store is not None:
                store.set("bench_alternation", value)
            else:
                Variable.set("taqnyat_bench_alternation", json.dumps(value))
            between.append(time.perf_counter() - start)
            after.append(post())
    _record(
        context["ti"].task_id,
        alternation={{
            "post_alone": statistics.median(alone),
            "post_after_write": statistics.median(after),
            "write_between_posts": statistics.median(between),
        }},
    )


def _store_writes(context, kind):
    samples = []
    for i in range(WRITES):
        value = {{"batch": i, "state": "delivered", "message_id": f"V-{{5452900000 + i}}", "accepted": 100}}
        if kind == "task_state_store":
            start = time.perf_counter()
            context["task_state_store"].set("bench_write", value)
        else:
            text = json.dumps(value)
            start = time.perf_counter()
            Variable.set("taqnyat_bench_write", text)
        samples.append(time.perf_counter() - start)
    _record(context["ti"].task_id, write_median=statistics.median(samples), writes=len(samples))


with DAG(
    "{dag_id}",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={{"pre_execute": _pre_execute, "post_execute": _post_execute, "on_success_callback": _on_success}},
):
    tasks = []
    for task_id, kind, size in PLAN:
        if kind == "empty":
            @task(task_id=task_id)
            def empty():
                pass
            tasks.append(empty())
        elif kind in ("raw", "warm_raw"):
            @task(task_id=task_id)
            def raw(size=size):
                _raw_posts(size)
            tasks.append(raw())
        elif kind == "alternation":
            @task(task_id=task_id)
            def alternation(**context):
                _alternation(context)
            tasks.append(alternation())
        elif kind == "loop":
            @task(task_id=task_id)
            def loop(size=size, **context):
                _crash_safe_loop(context, size)
            tasks.append(loop())
        elif kind in ("task_state_store", "variable"):
            @task(task_id=task_id)
            def write(kind=kind, **context):
                _store_writes(context, kind)
            tasks.append(write())
        else:
            tasks.append(
                TaqnyatVoiceOperator(
                    task_id=task_id,
                    audio_url=AUDIO,
                    recipients=NUMBERS[size],
                    batch_size={batch},
                    check_audio=False,
                )
            )
    chain(*tasks)
'''


@dataclass
class Sizes:
    """What one venv's DAG run holds: recipients -> repeats, and how many single writes to time."""

    repeats: dict[int, int]
    writes: int = 50
    task_state_store: bool = True  # Airflow >= 3.3 only


@dataclass
class Measured:
    airflow: str
    seconds: float  # the whole `airflow dags test`, parsing and migration aside
    in_task: dict[str, float] = field(default_factory=dict)  # task_id -> seconds
    execute: dict[str, float] = field(default_factory=dict)
    db: dict[str, float] = field(default_factory=dict)
    writes: dict[str, float] = field(default_factory=dict)  # store -> median seconds of one write
    alternation: dict[str, float] = field(default_factory=dict)  # see _alternation in DAG_SOURCE
    ledger: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # task_id -> (W, B, K)
    plan: list[tuple[str, str, int]] = field(default_factory=list)
    log_clock: bool = False  # the outer clock came from dags test's log lines, not the database

    def tasks(self, kind: str, size: int | None = None) -> list[str]:
        """The task ids of ``kind``: of one size, or of every size when ``size`` is None."""
        return [task_id for task_id, k, s in self.plan if k == kind and size in (None, s)]

    def median(self, kind: str, size: int | None = None, source: str = "in_task") -> float:
        values = getattr(self, source)
        return statistics.median(values[task_id] for task_id in self.tasks(kind, size))


def plan(sizes: Sizes) -> list[tuple[str, str, int]]:
    """
    The tasks, one after another: a one-batch raw send and provider send first, unmeasured, so that
    no measured task pays the first import of ``requests`` or of the hook; then the single writes;
    then per repeat and size an empty task, raw posts, the provider and the hand-written crash-safe
    loop (the three take turns in front from one repeat to the next, so that drift hits them alike).
    """
    steps: list[tuple[str, str, int]] = [("warm_raw", "warm_raw", BATCH_SIZE)]
    steps.append(("warm_provider", "warm_provider", BATCH_SIZE))
    if sizes.task_state_store:
        steps.append(("write_task_state_store", "task_state_store", 0))
    steps.append(("write_variable", "variable", 0))
    steps.append(("alternation", "alternation", 0))
    for rep in range(max(sizes.repeats.values())):
        for size in sorted(sizes.repeats):
            if rep >= sizes.repeats[size]:
                continue
            kinds = ["raw", "provider", "loop"]
            steps.append((f"empty_{size}_{rep}", "empty", size))
            shift = rep % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
                steps.append((f"{kind}_{size}_{rep}", kind, size))
    return steps


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace(" ", "T").split("+")[0])


def measure(
    python: str, work: Path, env: dict[str, str], sandbox_url: str, token: str, audio: str, sizes: Sizes
) -> Measured:
    """Run the plan in one `airflow dags test` of the venv whose interpreter is ``python``."""
    home = work / f"airflow-{Path(python).parent.parent.name}"
    dags = home / "dags"
    dags.mkdir(parents=True)
    results = home / "results.jsonl"
    env = {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "TAQNYAT_BENCH_RESULTS": str(results),
    }
    steps = plan(sizes)
    (dags / f"{DAG_ID}.py").write_text(
        textwrap.dedent(DAG_SOURCE).format(
            plan=steps,
            writes=sizes.writes,
            store="task_state_store" if sizes.task_state_store else "variable",
            base=sandbox_url,
            token=token,
            audio=audio,
            caller_id="966500000001",
            dag_id=DAG_ID,
            batch=BATCH_SIZE,
        )
    )
    airflow = [python, "-m", "airflow"]
    migrate = subprocess.run(
        [*airflow, "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if migrate.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{migrate.stderr[-3000:]}")
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    started = time.monotonic()
    log_path = home / "dags-test.log"
    with log_path.open("w") as log:
        run = subprocess.run(
            [*airflow, "dags", "test", DAG_ID], env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    seconds = time.monotonic() - started
    output = log_path.read_text(errors="replace")
    if run.returncode != 0:
        raise SystemExit(f"airflow dags test failed ({run.returncode}):\n{output[-4000:]}")
    measured = Measured(airflow=version, seconds=seconds, plan=steps)
    for line in results.read_text().splitlines():
        record = json.loads(line)
        task_id = record["task_id"]
        for key in ("in_task", "execute"):
            if key in record:
                getattr(measured, key)[task_id] = record[key]
        if "alternation" in record:
            measured.alternation = record["alternation"]
        if "write_median" in record:
            measured.writes[dict((t, k) for t, k, _ in steps)[task_id]] = record["write_median"]
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, state, start_date, end_date FROM task_instance WHERE dag_id = ?", (DAG_ID,)
        ).fetchall()
    # Airflow 2.11's `dags test` leaves a task instance's start_date empty: there the outer clock is
    # its own "[DAG TEST] starting" and "end task" log lines, which bracket the same steps.
    logged: dict[str, dict[str, datetime]] = {}
    for moment, what, task_id in DAG_TEST_LINE.findall(output):
        logged.setdefault(task_id, {})[what] = datetime.fromisoformat(moment)
    for task_id, state, start, end in rows:
        if state != "success":
            raise SystemExit(f"task {task_id} ended {state}:\n{output[-4000:]}")
        begin, finish = _utc(start), _utc(end)
        if begin and finish:
            measured.db[task_id] = (finish - begin).total_seconds()
        elif {"starting", "end task"} <= logged.get(task_id, {}).keys():
            measured.log_clock = True
            measured.db[task_id] = (logged[task_id]["end task"] - logged[task_id]["starting"]).total_seconds()
    missing = [t for t, _, _ in steps if t not in measured.in_task or t not in measured.db]
    if missing:
        raise SystemExit(f"no timing for {missing}:\n{output[-4000:]}")
    measured.ledger = ledger_lines(output, home, steps)
    return measured


def ledger_lines(
    output: str, home: Path, steps: list[tuple[str, str, int]]
) -> dict[str, tuple[int, int, int]]:
    """
    Each provider task's ``Send ledger`` line: from the ``dags test`` output, where each task's log
    lines sit between ``[DAG TEST] starting task_id=<id>`` and the next task's start (Airflow 3),
    else from the task's log file under ``AIRFLOW_HOME/logs`` (Airflow 2.11 writes them there).
    """
    found: dict[str, tuple[int, int, int]] = {}
    providers = {task_id for task_id, kind, _ in steps if kind in ("provider", "warm_provider")}
    for segment in re.split(r"\[DAG TEST\] starting (?=task_id=)", output)[1:]:
        task_id = segment.split(maxsplit=1)[0].removeprefix("task_id=")
        if task_id in providers and (match := LEDGER_LINE.search(segment)):
            found[task_id] = tuple(int(group) for group in match.groups())  # type: ignore[assignment]
    for log in (home / "logs").rglob("*.log"):
        task_id = next(
            (part.removeprefix("task_id=") for part in log.parts if part.startswith("task_id=")), ""
        )
        if task_id not in providers or task_id in found:
            continue
        if match := LEDGER_LINE.search(log.read_text(errors="replace")):
            found[task_id] = tuple(int(group) for group in match.groups())  # type: ignore[assignment]
    return found


@dataclass
class SizeResult:
    """One size's medians (seconds): (in task, metadata DB) for each task kind."""

    size: int
    repeats: int
    empty: tuple[float, float]
    raw: tuple[float, float]
    provider: tuple[float, float]
    loop: tuple[float, float]  # the hand-written crash-safe loop (read, n + 1 writes, n raw POSTs)
    write: float  # one durable store write of a small dict, median
    ledger: tuple[int, int, int] | None  # (writes, bytes written, bytes kept), None: no such log line

    @property
    def batches(self) -> int:
        return -(-self.size // BATCH_SIZE)

    @property
    def per_batch(self) -> float:
        """The provider's cost per batch above an empty task, from inside the tasks."""
        return (self.provider[0] - self.empty[0]) / self.batches

    @property
    def per_batch_db(self) -> float:
        """The same from the task instances' start and end dates."""
        return (self.provider[1] - self.empty[1]) / self.batches

    @property
    def loop_per_batch(self) -> float:
        """The hand-written crash-safe loop's cost per batch above an empty task, from inside the tasks."""
        return (self.loop[0] - self.empty[0]) / self.batches

    @property
    def floor(self) -> float:
        """One store write and one raw POST (raw posts above an empty task, per batch)."""
        return self.write + (self.raw[0] - self.empty[0]) / self.batches


def summarize(measured: Measured, store: str) -> list[SizeResult]:
    """
    Per size, the medians over its repeats; ``store`` names the write the floor counts. The empty
    task is the same task at every size: its median is over all of them, the steadiest figure.
    """
    sizes = sorted({size for _, kind, size in measured.plan if kind == "provider"})
    results = []
    for size in sizes:
        ledger = [measured.ledger[t] for t in measured.tasks("provider", size) if t in measured.ledger]
        results.append(
            SizeResult(
                size=size,
                repeats=len(measured.tasks("provider", size)),
                empty=(measured.median("empty"), measured.median("empty", source="db")),
                raw=(measured.median("raw", size), measured.median("raw", size, "db")),
                provider=(measured.median("provider", size), measured.median("provider", size, "db")),
                loop=(measured.median("loop", size), measured.median("loop", size, "db")),
                write=measured.writes[store],
                ledger=ledger[0] if ledger else None,
            )
        )
    return results


def details(sections: list[tuple[Measured, str, list[SizeResult]]]) -> str:
    """The absolute figures behind the DAG-run rows, both clocks, as a Markdown table."""
    lines = [
        "| Airflow | Recipients (batches) | Empty task | Raw posts | Voice operator | One store write | "
        "Provider per batch (DB clock) | Floor per batch | Crash-safe loop per batch | "
        "Ledger writes; bytes written / kept |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def pair(values: tuple[float, float]) -> str:
        return f"{values[0]:.3f} s / {values[1]:.3f} s"

    for measured, store, results in sections:
        version = measured.airflow + (" (log clock)" if measured.log_clock else "")
        for r in results:
            ledger = (
                "n/a" if r.ledger is None else f"{r.ledger[0]:,}; {r.ledger[1]:,} / {r.ledger[2]:,} bytes"
            )
            lines.append(
                f"| {version} | {r.size:,} ({r.batches:,}) × {r.repeats} | {pair(r.empty)} | "
                f"{pair(r.raw)} | {pair(r.provider)} | {store} {1000 * r.write:.2f} ms | "
                f"{1000 * r.per_batch:.2f} ms ({1000 * r.per_batch_db:.2f} ms) | {1000 * r.floor:.2f} ms | "
                f"{1000 * r.loop_per_batch:.2f} ms | {ledger} |"
            )
    return "\n".join(lines)


def loop_summary(airflow: str, results: list[SizeResult]) -> str:
    """One sentence per size: the hand-written crash-safe loop against the floor, the provider against it."""
    parts = [
        f"{r.size:,} recipients: loop {1000 * r.loop_per_batch:.2f} ms a batch, "
        f"{r.loop_per_batch / r.floor:.2f}x the floor; voice operator {1000 * r.per_batch:.2f} ms, "
        f"{r.per_batch / r.loop_per_batch:.2f}x the loop"
        for r in results
    ]
    return f"On Airflow {airflow}, " + "; ".join(parts) + "."


def alternation_summary(measured: Measured, store: str) -> str:
    """The floor's two halves timed back to back and alternating, in one sentence."""
    a = measured.alternation
    if not a:
        return f"On Airflow {measured.airflow}: not measured."
    return (
        f"On Airflow {measured.airflow}: a raw POST {1000 * a['post_alone']:.2f} ms back to back, "
        f"{1000 * a['post_after_write']:.2f} ms right after a {store}; a {store} "
        f"{1000 * measured.writes[_STORE_KINDS[store]]:.2f} ms back to back, "
        f"{1000 * a['write_between_posts']:.2f} ms between POSTs (medians of 60)."
    )


_STORE_KINDS = {"task_state_store.set": "task_state_store", "Variable.set": "variable"}
