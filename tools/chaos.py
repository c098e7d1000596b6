"""
`make test-chaos`: many mapped sends on the distributed deployment while it is being broken.

The deployment of `make test-e2e-celery` (PostgreSQL, Redis, api-server, scheduler with the
CeleryExecutor, dag-processor, triggerer, Celery workers; see tools/e2e_celery.py) runs one DAG of
``CHAOS_SENDS`` (default 60, more for a longer ``CHAOS_SECONDS``) mapped voice and SMS sends of 10 to
30 recipients in batches of 3 to 5, ``retries=3``, against the sandbox with its rate limit, behind a
loopback proxy that adds answer latency. Meanwhile a chaos driver, from ``CHAOS_SEED``:

* SIGKILLs a random Celery worker (its whole session: the worker, its pool and the task processes it
  runs, as when a machine dies) every few seconds and starts a new one under a new name;
* restarts the api-server once, PostgreSQL once and Redis once;
* makes the sandbox answer some send requests with 429, 503 (without Retry-After: maybe processed), a
  dropped connection and a hang longer than the connection's timeout.

Like an operator's process supervisor, the driver restarts any Airflow component that exits on its
own (a scheduler that lost its database, say) and counts it. When the run has ended, the checker
(tools/chaos_check.py) reads the sandbox's request log, each send task's state, try number, XComs and
the error its last try logged, and the run prints one line::

    chaos: seed S, sends N, batches B, kills K, restarts R, faults F, duplicates D, unaccounted U, time T s

Exit status 0 only when D and U are 0 and every task succeeded or failed naming its unresolved
numbers. The fault schedule (what, when, which worker) derives from the seed; Airflow's own timing
does not, so two runs of a seed inject the same faults at the same moments into different interleavings.
``CHAOS_RECORD=path`` writes what the checker read (and the schedule) to ``path`` as JSON; a failing
run always writes it to /tmp, to be kept under tests/chaos/regressions/.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import chaos_check
import procs
from e2e import API_USER, airflow, check_no_token, log, query, start_postgres
from e2e_celery import HOSTNAME_MODULE, start_redis

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "taqnyat_chaos"
SEED = int(os.environ.get("CHAOS_SEED", "20250"))
CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "150"))
SENDS = int(os.environ.get("CHAOS_SENDS", str(round(60 * max(1.0, CHAOS_SECONDS / 150)))))
WORKER_CONCURRENCY = 3
# 2 workers x 3 slots busy the 2 cores; more queued tasks would only wait in Redis.
MAX_ACTIVE_TASKS = 8
RATE_LIMIT = "12/2s"
LATENCY = (0.05, 0.25)  # seconds added to each answer by the proxy
CONNECTION_TIMEOUT = 4  # the connection's read timeout; a hang lasts longer
HANG_SECONDS = 7
# The run must end in the Makefile's timeout (450 s + CHAOS_SECONDS): set-up, chaos, quiet, check.
SETTLE_SECONDS = 240
CALLER_ID = "966500000001"
SENDER = "Taqnyat.sa"


# --------------------------------------------------------------------------------------------------
# What the seed decides


def make_plan(seed: int, count: int) -> list[dict]:
    """``count`` sends, voice or SMS; each number belongs to one send only (9665 + send + member)."""
    rng = random.Random(f"plan-{seed}")
    plan, indexes = [], collections.Counter[str]()
    for i in range(count):
        channel = rng.choice(("voice", "sms"))
        task_id = "call" if channel == "voice" else "text"
        index = indexes[task_id]
        indexes[task_id] += 1
        size, batch_size = rng.randint(10, 30), rng.choice((3, 4, 5))
        plan.append(
            {
                "task_id": task_id,
                "map_index": index,
                "channel": channel,
                "marker": (
                    f"https://cdn.example.com/chaos/{task_id}-{index}.mp3"
                    if channel == "voice"
                    else f"Chaos drill {task_id}[{index}], seed {seed}"
                ),
                "recipients": [f"9665{i:03d}{member:05d}" for member in range(size)],
                "batch_size": batch_size,
                # Most sends keep the default; some count unknown batches as maybe reached and go on.
                "on_unknown": "skip" if rng.random() < 0.25 else "fail",
            }
        )
    return plan


@dataclass(order=True)
class Event:
    at: float
    kind: str  # kill, restart, fault
    detail: dict = field(default_factory=dict, compare=False)


def make_schedule(seed: int, seconds: float) -> list[Event]:
    """The chaos, seconds after the run was triggered: kills, three restarts, sandbox faults."""
    rng = random.Random(f"schedule-{seed}")
    events: list[Event] = []
    at = rng.uniform(8, 14)
    while at < seconds:
        events.append(Event(round(at, 1), "kill", {"pick": rng.random()}))
        at += rng.uniform(9, 16)
    order = ["api-server", "postgres", "redis"]
    rng.shuffle(order)
    for share, component in zip((0.3, 0.5, 0.7), order, strict=True):
        events.append(
            Event(round(seconds * share + rng.uniform(-5, 5), 1), "restart", {"component": component})
        )
    kinds = ["429", "503", "drop", "hang"] * 3
    rng.shuffle(kinds)
    for kind in kinds:
        fault: dict = {"kind": kind, "endpoint": rng.choice(("voice", "sms")), "skip": rng.randint(0, 6)}
        if kind == "429":
            fault["retry_after"] = "1"
        elif kind == "503":
            fault["retry_after"] = None  # a proxy's bare 503: the request may have been processed
        elif kind == "hang":
            fault["seconds"] = HANG_SECONDS
        events.append(Event(round(rng.uniform(3, seconds * 0.85), 1), "fault", fault))
    return sorted(events)


# --------------------------------------------------------------------------------------------------
# Answer latency: a loopback proxy in front of the sandbox


class LatencyProxy:
    """Forwards bytes both ways, each answer chunk after a short wait; a closed side closes both."""

    def __init__(self, upstream_port: int, seed: int) -> None:
        self.upstream_port = upstream_port
        self.rng = random.Random(f"latency-{seed}")
        self.port = 0
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True, name="latency-proxy").start()
        if not self._ready.wait(10):
            raise SystemExit("the latency proxy did not start")

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        writers = (client_writer, upstream_writer)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if delay:
                        await asyncio.sleep(self.rng.uniform(*LATENCY))
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for each in writers:
                    each.close()

        await asyncio.gather(
            pipe(client_reader, upstream_writer, False), pipe(upstream_reader, client_writer, True)
        )


# --------------------------------------------------------------------------------------------------
# The deployment, supervised


@dataclass
class Component:
    name: str
    command: list[str]
    log: Path
    env: dict[str, str]
    process: subprocess.Popen
    stop_signal: int = signal.SIGTERM


def session_pids(leader: int) -> list[int]:
    """Every process in ``leader``'s session or process group: a worker and all it forked."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if leader in (int(fields[2]), int(fields[3])):
            found.append(int(entry))
    return found


class Cluster:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.components: dict[str, Component] = {}
        self.workers = 0
        self.kills: list[str] = []
        self.restarts: list[str] = []
        self.supervised: list[str] = []  # components restarted because they exited on their own
        self.timeline: list[str] = []
        self.started = time.monotonic()

    def note(self, message: str) -> None:
        line = f"t+{time.monotonic() - self.started:5.1f}s {message}"
        self.timeline.append(line)
        log(line)

    def adopt(self, name: str, process: subprocess.Popen, log_path: Path, stop_signal: int) -> None:
        """A process started elsewhere (PostgreSQL, Redis): restarted with the same command."""
        self.components[name] = Component(
            name,
            [str(arg) for arg in process.args],  # type: ignore[union-attr]
            log_path,
            dict(os.environ),
            process,
            stop_signal,  # type: ignore[arg-type]
        )

    def start(self, name: str, command: list[str], log_path: Path, env: dict[str, str]) -> Component:
        component = Component(name, command, log_path, env, procs.start(command, log_path, env))
        self.components[name] = component
        return component

    def start_worker(self, env: dict[str, str]) -> str:
        self.workers += 1
        name = f"worker-{self.workers}"
        worker_env = {**env, "TAQNYAT_E2E_WORKER_HOST": name}
        command = airflow("celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs")
        self.start(name, command, self.work / "logs" / f"{name}.log", worker_env)
        return name

    def _forget(self, component: Component) -> None:
        if component.process in procs.STARTED:
            procs.STARTED.remove(component.process)

    def ready_workers(self) -> list[str]:
        """Workers that said they are ready: a worker still starting holds no task worth killing."""
        names = sorted(
            (n for n in self.components if n.startswith("worker-")), key=lambda n: int(n.split("-")[1])
        )
        return [n for n in names if "ready" in self.components[n].log.read_text(errors="replace")]

    def kill_worker(self, pick: float) -> str | None:
        """SIGKILL a worker's whole session, as when its machine dies; start a new one in its place."""
        ready = self.ready_workers()
        if not ready:
            return None
        victim = self.components.pop(ready[int(pick * len(ready))])
        pids = session_pids(victim.process.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        victim.process.wait()
        self._forget(victim)
        self.kills.append(victim.name)
        new = self.start_worker(victim.env)
        self.note(f"SIGKILL {victim.name} ({len(pids)} processes); started {new}")
        return victim.name

    def restart(self, name: str, down_seconds: float) -> None:
        component = self.components[name]
        self._forget(component)
        procs.stop(component.process, sig=component.stop_signal, grace=30)
        self.note(f"stopped {name} (pid {component.process.pid}); down for {down_seconds:g} s")
        time.sleep(down_seconds)
        component.process = procs.start(component.command, component.log, component.env)
        self.restarts.append(name)
        self.note(f"started {name} again (pid {component.process.pid})")

    def supervise(self) -> None:
        """What systemd or Kubernetes would do: a component that exited is started again."""
        for component in list(self.components.values()):
            if component.process.poll() is None:
                continue
            code = component.process.returncode
            self._forget(component)
            component.process = procs.start(component.command, component.log, component.env)
            self.supervised.append(component.name)
            self.note(
                f"supervisor: {component.name} exited with {code}; started again (pid {component.process.pid})"
            )


def sandbox_admin(url: str, token: str, method: str, path: str, payload: object = None) -> dict:
    """An admin request as the hardened sandbox wants it: loopback Host, the token, a JSON body."""
    host = url.split("://", 1)[1]
    request = urllib.request.Request(
        f"{url}/_sandbox/{path}",
        method=method,
        data=json.dumps({} if payload is None else payload).encode(),
        headers={"Host": host, "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise SystemExit(f"sandbox {method} {path}: HTTP {error.code} {error.read()[:300]!r}") from None


DAG_TEMPLATE = '''
"""The chaos run's sends: each mapped task is one send of the plan (tools/chaos.py)."""
import datetime
import json

import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.sms import TaqnyatSmsOperator
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

PLAN = json.loads({plan!r})
COMMON = dict(retries=3, retry_delay=datetime.timedelta(seconds=3))


def kwargs(task_id, text_field):
    return [
        {{
            "recipients": send["recipients"],
            "batch_size": send["batch_size"],
            "on_unknown": send["on_unknown"],
            text_field: send["marker"],
        }}
        for send in PLAN
        if send["task_id"] == task_id
    ]


with DAG(
    "{dag_id}",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1),
    catchup=False,
    max_active_tasks={max_active},
):
    TaqnyatVoiceOperator.partial(task_id="call", **COMMON).expand_kwargs(kwargs("call", "audio_url"))
    TaqnyatSmsOperator.partial(task_id="text", **COMMON).expand_kwargs(kwargs("text", "body"))
'''


def start(work: Path, plan: list[dict]) -> tuple[Cluster, dict]:
    cluster = Cluster(work)
    token = secrets.token_hex(20)
    home, dags, logs, pythonpath = work / "airflow", work / "dags", work / "logs", work / "pythonpath"
    for folder in (home, dags, logs, pythonpath):
        folder.mkdir()
    (pythonpath / "e2e_worker_host.py").write_text(HOSTNAME_MODULE)
    database_url = start_postgres(work)
    cluster.adopt("postgres", procs.STARTED[-1], work / "postgres.log", signal.SIGINT)
    broker_url = start_redis(work)
    cluster.adopt("redis", procs.STARTED[-1], logs / "redis.log", signal.SIGTERM)

    env = {**os.environ, "TAQNYAT_SANDBOX_TOKEN": token}
    port_file = logs / "sandbox.port"
    sandbox_command = [
        sys.executable, "-m", "taqnyat_provider.sandbox", "--port", "0", "--port-file", str(port_file),
        "--rate-limit", RATE_LIMIT, "--balance", "1000000",
    ]  # fmt: skip
    cluster.start("sandbox", sandbox_command, logs / "sandbox.log", env)
    procs.wait_until("the sandbox", lambda: port_file.exists() and port_file.read_text().strip(), seconds=30)
    sandbox_url = f"http://127.0.0.1:{int(port_file.read_text())}"
    proxy = LatencyProxy(int(port_file.read_text()), SEED)
    log(f"sandbox on {sandbox_url}, rate limit {RATE_LIMIT}; latency proxy on 127.0.0.1:{proxy.port}")

    api_port, api_password = procs.api_user(home, API_USER)
    env.update(
        procs.airflow_env(
            home=home,
            dags=dags,
            logs=logs,
            database_url=database_url,
            api_port=api_port,
            user=API_USER,
            executor="CeleryExecutor",
            connection={
                "host": f"http://127.0.0.1:{proxy.port}",
                "password": token,
                "extra": {"caller_id": CALLER_ID, "sender": SENDER, "timeout": CONNECTION_TIMEOUT},
            },
        )
    )
    env.update(
        {
            "AIRFLOW__CORE__PARALLELISM": "16",
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            # A dead worker's tasks: its unacknowledged messages come back after 60 s (not a day), a
            # task it was running is failed (and retried) after 30 s without a heartbeat, and a task
            # whose message Redis lost in its restart is queued again after 45 s.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "60",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "45",
            "AIRFLOW__SCHEDULER__NUM_STUCK_IN_QUEUED_RETRIES": "5",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "20",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(pythonpath), os.environ.get("PYTHONPATH")])),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "e2e_worker_host.hostname",
            "TAQNYAT_E2E_WORKER_HOST": "control-plane",
        }
    )
    (dags / f"{DAG_ID}.py").write_text(
        DAG_TEMPLATE.format(plan=json.dumps(plan), dag_id=DAG_ID, max_active=MAX_ACTIVE_TASKS)
    )
    log("airflow db migrate (PostgreSQL)")
    migrate = subprocess.run(airflow("db", "migrate"), env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}")
    cluster.start("api-server", airflow("api-server"), logs / "api-server.log", env)
    procs.wait_until(
        "the api-server",
        lambda: procs.http("GET", f"http://127.0.0.1:{api_port}/api/v2/monitor/health")[0] == 200,
        seconds=120,
    )
    for component in ("dag-processor", "scheduler", "triggerer"):
        cluster.start(component, airflow(component), logs / f"{component}.log", env)
    for _ in range(2):
        cluster.start_worker(env)
    status, body = procs.http(
        "POST", f"http://127.0.0.1:{api_port}/auth/token", {"username": API_USER, "password": api_password}
    )
    if not body.get("access_token"):
        raise SystemExit(f"no API token: HTTP {status} {body}")
    context = {
        "token": token,
        "database_url": database_url,
        "sandbox_url": sandbox_url,
        "api": f"http://127.0.0.1:{api_port}/api/v2",
        "jwt": body["access_token"],
        "env": env,
    }
    return cluster, context


# --------------------------------------------------------------------------------------------------
# The run


def run_state(database_url: str, run_id: str) -> str | None:
    try:
        rows = query(
            database_url, "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id
        )
    except Exception:  # PostgreSQL is being restarted: ask again in a moment
        return None
    return rows[0][0] if rows else None


def play(cluster: Cluster, context: dict, schedule: list[Event], run_id: str) -> str:
    """Fire the schedule while the run goes on; supervise; return the run's final state."""
    pending = list(schedule)
    triggered = time.monotonic()
    deadline = triggered + CHAOS_SECONDS + SETTLE_SECONDS
    state, last_look = None, 0.0
    while time.monotonic() < deadline:
        cluster.supervise()
        elapsed = time.monotonic() - triggered
        for event in [e for e in pending if e.at <= elapsed and state not in ("success", "failed")]:
            if event.kind == "kill" and not cluster.kill_worker(event.detail["pick"]):
                continue  # no worker is ready yet: the kill waits for one
            pending.remove(event)
            if event.kind == "restart":
                name = event.detail["component"]
                cluster.restart(name, down_seconds=0 if name == "api-server" else 4)
            elif event.kind == "fault":
                sandbox_admin(context["sandbox_url"], context["token"], "POST", "faults", event.detail)
                cluster.note(f"sandbox fault armed: {event.detail}")
        if time.monotonic() - last_look > 2:
            last_look = time.monotonic()
            state = run_state(context["database_url"], run_id) or state
            if state in ("success", "failed"):
                cluster.note(f"{run_id} ended {state}; {len(pending)} chaos events not needed")
                return state
        time.sleep(0.5)
    return state or "unknown"


def task_error(logs: Path, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    """The exceptions the task's last try logged (Airflow 3 writes JSON lines), type: message."""
    path = (
        logs / "tasks" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
        / f"map_index={map_index}" / f"attempt={try_number}.log"
    )  # fmt: skip
    if not path.exists():
        return ""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        for detail in entry.get("error_detail") or []:
            if isinstance(detail, dict) and detail.get("exc_value"):
                found.append(f"{detail.get('exc_type')}: {detail['exc_value']}")
    return "\n".join(found)


def collect(context: dict, work: Path, run_id: str) -> tuple[list[dict], dict[str, dict]]:
    requests = sandbox_admin(context["sandbox_url"], context["token"], "GET", "requests")["requests"]
    url = context["database_url"]
    rows = query(
        url,
        "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s",
        DAG_ID,
        run_id,
    )
    xcoms: dict[tuple[str, int], dict] = collections.defaultdict(dict)
    for task_id, map_index, key, value in query(
        url,
        "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = %s AND run_id = %s "
        "AND key IN ('return_value', 'partial_delivery')",
        DAG_ID,
        run_id,
    ):
        if isinstance(value, (str, bytes)):
            value = json.loads(value)
        xcoms[(task_id, map_index)][key] = value
    outcomes = {}
    for task_id, map_index, state, try_number in rows:
        pushed = xcoms.get((task_id, map_index), {})
        outcomes[f"{task_id}[{map_index}]"] = {
            "state": state,
            "try_number": try_number,
            "return_value": pushed.get("return_value"),
            "partial_delivery": pushed.get("partial_delivery"),
            "error": task_error(work / "logs", run_id, task_id, map_index, try_number)
            if state != "success"
            else None,
        }
    return requests, outcomes


def wait_for_dag(context: dict) -> None:
    def parsed() -> bool:
        status, _body = procs.http("GET", f"{context['api']}/dags/{DAG_ID}/details", token=context["jwt"])
        return status == 200

    try:
        procs.wait_until(f"the dag-processor to load {DAG_ID}", parsed, seconds=180)
    except SystemExit as stopped:
        # Say why: a DAG file that does not import (another edit to the provider half done?).
        _, errors = procs.http("GET", f"{context['api']}/importErrors", token=context["jwt"])
        raise SystemExit(f"{stopped}; import errors: {json.dumps(errors)[-1500:]}") from None


def run(work: Path) -> list[str]:
    started = time.monotonic()
    plan = make_plan(SEED, SENDS)
    schedule = make_schedule(SEED, CHAOS_SECONDS)
    log(
        f"seed {SEED}: {len(plan)} sends ({sum(len(s['recipients']) for s in plan)} numbers), "
        f"{sum(e.kind == 'kill' for e in schedule)} kills, 3 restarts, "
        f"{sum(e.kind == 'fault' for e in schedule)} faults planned over {CHAOS_SECONDS:g} s"
    )
    cluster, context = start(work, plan)
    procs.wait_until(
        "the Celery workers to be ready",
        lambda: all(
            "ready" in (work / "logs" / f"worker-{n}.log").read_text(errors="replace") for n in (1, 2)
        ),
        seconds=180,
    )
    wait_for_dag(context)
    # From here on the driver watches the processes itself (procs.wait_until would stop at an exit).
    status, body = procs.http(
        "POST", f"{context['api']}/dags/{DAG_ID}/dagRuns", {"logical_date": None}, token=context["jwt"]
    )
    if status != 200:
        raise SystemExit(f"could not trigger {DAG_ID}: HTTP {status} {body}")
    run_id = body["dag_run_id"]
    cluster.started = time.monotonic()
    cluster.note(f"triggered {run_id}")
    state = play(cluster, context, schedule, run_id)
    requests, outcomes = collect(context, work, run_id)
    sends = [chaos_check.Send.from_dict(s) for s in plan]
    report = chaos_check.check(
        sends, requests, {k: chaos_check.Outcome.from_dict(v) for k, v in outcomes.items()}
    )

    failures: list[str] = []
    if state not in ("success", "failed"):
        failures.append(f"{run_id} did not end in time: {state}")
    print(f"    run {state}; tasks: {dict(report.endings)}", flush=True)
    print(
        f"    sandbox: {report.batches} send requests processed, {report.faults} answered by a planted fault, "
        f"{report.rate_limited} answered 429 by the rate limit {RATE_LIMIT}",
        flush=True,
    )
    print(f"    workers killed: {', '.join(cluster.kills) or 'none'}", flush=True)
    print(
        f"    restarted: {', '.join(cluster.restarts)}; by the supervisor: {', '.join(cluster.supervised) or 'none'}"
    )
    retried = collections.Counter(o["try_number"] for o in outcomes.values())
    print(f"    tasks by tries: {dict(sorted(retried.items()))}", flush=True)
    for label, outcome in sorted(outcomes.items()):
        if outcome["state"] != "success":
            first = (outcome["error"] or "no error logged").splitlines()[0][:220]
            print(f"    {label}: {outcome['state']} on try {outcome['try_number']}: {first}", flush=True)
    for send, number, times in report.duplicates:
        failures.append(f"duplicate: {send} reached {number} {times} times")
    for send, number, why in report.unaccounted:
        failures.append(f"unaccounted: {send} {number}: {why}")
    for send, why in report.bad_endings:
        failures.append(f"bad ending: {send}: {why}")
    failures += check_no_token(context["token"], [work / "logs", work / "airflow"])

    record = {
        "seed": SEED,
        "chaos_seconds": CHAOS_SECONDS,
        "schedule": [{"at": e.at, "kind": e.kind, **e.detail} for e in schedule],
        "timeline": cluster.timeline,
        "plan": plan,
        "requests": [r for r in requests if r.get("endpoint") in chaos_check.SEND_ENDPOINTS],
        "outcomes": outcomes,
    }
    target = os.environ.get("CHAOS_RECORD") or (f"/tmp/taqnyat-chaos-seed-{SEED}.json" if failures else "")
    if target:
        Path(target).write_text(json.dumps(record, indent=1, default=str))
        log(f"recorded the run for the checker in {target}")
    line = chaos_check.summary_line(
        report,
        seed=SEED,
        kills=len(cluster.kills),
        restarts=len(cluster.restarts) + len(cluster.supervised),
        seconds=time.monotonic() - started,
    )
    print(line, flush=True)
    return failures


def main() -> int:
    return procs.run_deployment_test(
        "chaos", run, ("scheduler", "triggerer", "dag-processor", "api-server", "sandbox")
    )


if __name__ == "__main__":
    sys.exit(main())
