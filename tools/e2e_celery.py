"""
`make test-e2e-celery`: the provider on a distributed Airflow 3 — CeleryExecutor, Redis, two workers.

Starts PostgreSQL (metadata database and Celery result backend) and Redis (the Celery broker), both
from Debian's packages when missing, the sandbox with its per-token rate limit on, and Airflow's
api-server, scheduler (CeleryExecutor), dag-processor, triggerer and two Celery workers, each a
separate process. The workers stand for two machines: each has its own ``--celery-hostname`` and
reports its own host name for the task instances it runs (``[core] hostname_callable``).

Each scenario is a function taking the running :class:`Deployment` and returning its failed
checks; they run one after the other on the same deployment:

* :func:`mapped_burst`: the mapped team-calls example DAG with 24 mapped send tasks (a call and a
  text for each of 12 teams) behind a deferrable status sensor, in the ``taqnyat`` pool, against a
  rate limit low enough that the API answers 429. It asserts that both workers ran send tasks,
  that every task succeeded on its first try (the hook waited out each 429 as ``Retry-After``
  said), that the sandbox answered 429 at least once, and that every recipient was called once and
  texted once: nobody twice.
* :func:`killed_worker_resumes_elsewhere`: a send whose task process is SIGKILLed mid-send, and whose
  worker is then stopped, is retried on the other worker and resumes from the send ledger: every
  number in exactly one request.

Every process is stopped by its PID; the working folder is removed. Exit status 0: all passed.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import procs
from e2e import API_USER, airflow, check_no_token, log, query, set_degraded, start_postgres

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "taqnyat_team_calls_mapped"
WORKERS = ("worker-a", "worker-b")
WORKER_CONCURRENCY = 3
POOL_SLOTS = 4
# Taqnyat's gateway allows 100 requests per 60 s, which 24 sends never reach; the sandbox is stricter
# so that the burst is throttled. The pool holds no more tasks than a window holds requests, so the
# tasks refused in one window all find a slot when it resets, after one Retry-After.
RATE_LIMIT = "5/10s"
TEAMS = 12
DEADLINE_SECONDS = 5 * 60
CALLER_ID = "966500000001"
SENDER = "Taqnyat.sa"

# Every worker says which machine it stands for; Airflow records it in task_instance.hostname.
HOSTNAME_MODULE = """
import os


def hostname() -> str:
    return os.environ["TAQNYAT_E2E_WORKER_HOST"]
"""


@dataclass
class Deployment:
    work: Path
    env: dict[str, str]
    token: str
    database_url: str
    sandbox_url: str
    api: str
    jwt: str
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def rest(self, method: str, path: str, payload: object = None) -> dict:
        status, body = procs.http(method, f"{self.api}{path}", payload, token=self.jwt)
        if not 200 <= status < 300:
            raise SystemExit(f"{method} {path}: HTTP {status} {body}")
        return body

    def sandbox(self, method: str, path: str, payload: object = None) -> dict:
        status, body = procs.http(method, f"{self.sandbox_url}/_sandbox/{path}", payload)
        if status != 200:
            raise SystemExit(f"sandbox {method} {path}: HTTP {status} {body}")
        return body


# --------------------------------------------------------------------------------------------------
# Redis


def redis_server_bin() -> str:
    found = shutil.which("redis-server")
    if not found:
        log("Redis is not installed: apt-get install redis-server")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        stop_redis_the_package_started()
        found = shutil.which("redis-server")
    if not found:
        raise SystemExit("redis-server is still missing after apt-get install")
    return found


def stop_redis_the_package_started() -> None:
    """Debian's package may start its own Redis on install; the test runs its own, so stop that one."""
    pidfile = Path("/run/redis/redis-server.pid")
    if pidfile.exists() and pidfile.read_text().strip().isdigit():
        pid = int(pidfile.read_text())
        log(f"stopping the Redis the package started (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def start_redis(work: Path) -> str:
    port = procs.free_port()
    folder = work / "redis"
    folder.mkdir()
    server = procs.start(
        [
            redis_server_bin(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(folder),
            # A broker for one test run: nothing to keep on disk.
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        work / "logs" / "redis.log",
        dict(os.environ),
    )
    procs.wait_until(
        "Redis to accept connections",
        lambda: (
            subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            == "PONG"
        ),
        seconds=30,
    )
    log(f"Redis (pid {server.pid}) on 127.0.0.1:{port}")
    return f"redis://127.0.0.1:{port}/0"


# --------------------------------------------------------------------------------------------------
# The deployment


def write_dag(dags: Path) -> None:
    """The example DAG as users get it, with the sensor's poll at 5 s instead of 30 s."""
    source = (ROOT / "example_dags" / f"{DAG_ID}.py").read_text()
    if "poke_interval=30" not in source or 'TAQNYAT_POOL = "taqnyat"' not in source:
        raise SystemExit("example DAG changed: poke_interval=30 or the taqnyat pool not found")
    (dags / f"{DAG_ID}.py").write_text(source.replace("poke_interval=30", "poke_interval=5"))


def start(work: Path) -> Deployment:
    token = secrets.token_hex(20)
    home, dags, logs, pythonpath = work / "airflow", work / "dags", work / "logs", work / "pythonpath"
    for folder in (home, dags, logs, pythonpath):
        folder.mkdir()
    (pythonpath / "e2e_worker_host.py").write_text(HOSTNAME_MODULE)
    database_url = start_postgres(work)
    broker_url = start_redis(work)

    env = {**os.environ, "TAQNYAT_SANDBOX_TOKEN": token}
    sandbox, sandbox_url = procs.start_sandbox(logs, env)
    # Set over the admin API, as a test steering a running sandbox does (the CLI's --rate-limit is the same).
    status, body = procs.http("POST", f"{sandbox_url}/_sandbox/rate-limit", {"limit": RATE_LIMIT})
    if status != 200:
        raise SystemExit(f"could not set the sandbox's rate limit: HTTP {status} {body}")
    log(f"sandbox (pid {sandbox.pid}) on {sandbox_url}, rate limit {RATE_LIMIT} per token")

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
                "host": sandbox_url,
                "password": token,
                "extra": {"caller_id": CALLER_ID, "sender": SENDER},
            },
        )
    )
    env.update(
        {
            "AIRFLOW__CORE__PARALLELISM": "16",
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # One task at a time from the broker per worker process: the burst spreads over both workers.
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        }
    )
    write_dag(dags)
    log("airflow db migrate (PostgreSQL)")
    migrate = subprocess.run(airflow("db", "migrate"), env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}")

    # The api-server first: task runners report to its execution API from their first second.
    components = {"api-server": procs.start(airflow("api-server"), logs / "api-server.log", env)}
    procs.wait_until(
        "the api-server",
        lambda: procs.http("GET", f"http://127.0.0.1:{api_port}/api/v2/monitor/health")[0] == 200,
        seconds=120,
    )
    for component in ("dag-processor", "scheduler", "triggerer"):
        components[component] = procs.start(airflow(component), logs / f"{component}.log", env)
    workers = {}
    for name in WORKERS:
        worker_env = {
            **env,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")])),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "e2e_worker_host.hostname",
            "TAQNYAT_E2E_WORKER_HOST": name,
        }
        # The log server's port is the same for every worker on one host; the logs are local files here.
        command = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
        workers[name] = procs.start(airflow(*command), logs / f"{name}.log", worker_env)
    for component, process in {**components, **workers}.items():
        log(f"airflow {component} (pid {process.pid})")

    status, body = procs.http(
        "POST", f"http://127.0.0.1:{api_port}/auth/token", {"username": API_USER, "password": api_password}
    )
    if not body.get("access_token"):
        raise SystemExit(f"no API token: HTTP {status} {body}")
    return Deployment(
        work=work,
        env=env,
        token=token,
        database_url=database_url,
        sandbox_url=sandbox_url,
        api=f"http://127.0.0.1:{api_port}/api/v2",
        jwt=body["access_token"],
        workers=workers,
    )


def wait_for_workers(deployment: Deployment) -> None:
    """Both workers answer Celery's ping before any task is queued, so that both can take some."""

    def ready() -> bool:
        return all(
            "ready" in (deployment.logs / f"{name}.log").read_text(errors="replace") for name in WORKERS
        )

    procs.wait_until("both Celery workers to be ready", ready, seconds=180)


# --------------------------------------------------------------------------------------------------
# Scenarios


def team_numbers(team: int) -> list[str]:
    """Team ``team``'s rota: 1 to 3 distinct Saudi mobile numbers, none shared with another team."""
    return [f"96650{team:03d}{member:04d}" for member in range(1 + team % 3)]


def task_instances(deployment: Deployment, run_id: str) -> list[dict]:
    body = deployment.rest("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
    return body["task_instances"]


def throttled_attempts(log_text: str) -> int:
    """Attempts the hook logged as refused with 429 (waited out, or given up on)."""
    return len(
        re.findall(r"(?:Attempt \d+ of \d+ failed|Giving up after attempt \d+).{0,200}?HTTP 429", log_text)
    )


def mapped_burst(deployment: Deployment) -> list[str]:
    """24 mapped sends over two workers against a rate-limited API: all succeed, nobody twice."""
    failures: list[str] = []
    teams = [team_numbers(team) for team in range(1, TEAMS + 1)]
    everyone = [number for team in teams for number in team]
    deployment.rest(
        "POST",
        "/pools",
        {"name": "taqnyat", "slots": POOL_SLOTS, "description": "Taqnyat API (taqnyat_default)"},
    )
    procs.wait_until(
        f"the dag-processor to load {DAG_ID}",
        lambda: procs.http("GET", f"{deployment.api}/dags/{DAG_ID}", token=deployment.jwt)[0] == 200,
        seconds=120,
    )
    # The sensor's first poke must see trouble, so that it defers to the triggerer.
    set_degraded(deployment.sandbox_url, True)
    started = time.monotonic()
    run = deployment.rest("POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"teams": teams}})
    run_id = run["dag_run_id"]
    log(f"triggered {run_id}: {len(teams)} teams, {len(everyone)} numbers, a call and a text each")

    deferred = {"seen": False}

    def run_ended() -> bool:
        if not deferred["seen"]:
            rows = query(
                deployment.database_url,
                "SELECT state FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = 'wait_for_taqnyat'",
                DAG_ID,
                run_id,
            )
            if rows and rows[0][0] == "deferred":
                deferred["seen"] = True
                set_degraded(deployment.sandbox_url, False)
                log("the sensor deferred; the sandbox says operational again")
        state = deployment.rest("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        return state in ("success", "failed")

    procs.wait_until(f"{run_id} to end", run_ended, seconds=DEADLINE_SECONDS, interval=1)
    elapsed = time.monotonic() - started
    state = deployment.rest("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
    instances = task_instances(deployment, run_id)
    received = deployment.sandbox("GET", "requests")

    sends = [ti for ti in instances if ti["task_id"] in ("call_team", "text_team")]
    by_worker: dict[str, list[dict]] = collections.defaultdict(list)
    for ti in sends:
        by_worker[ti["hostname"] or "(none)"].append(ti)
    throttled = [r for r in received["requests"] if r["fault"] == "rate_limit"]
    requests_by_endpoint = collections.Counter(r["endpoint"] for r in received["requests"])
    called = collections.Counter(n for call in received["calls"] for n in call["accepted"])
    texted = collections.Counter(n for message in received["messages"] for n in message["accepted"])
    duplicates = sum(c - 1 for c in called.values() if c > 1) + sum(c - 1 for c in texted.values() if c > 1)

    log(f"{run_id}: {state} in {elapsed:.0f} s; {len(sends)} mapped send tasks")
    log(
        f"sandbox: {sum(requests_by_endpoint.values())} requests {dict(requests_by_endpoint)}, "
        f"{len(throttled)} answered 429 by the rate limit {received['rate_limit']}"
    )
    per_task: dict[str, int] = {}
    for worker in sorted(by_worker):
        tasks = sorted(by_worker[worker], key=lambda ti: (ti["task_id"], ti["map_index"]))
        for ti in tasks:
            per_task[label(ti)] = throttled_attempts(task_log(deployment, run_id, ti))
        worker_429 = sum(per_task[label(ti)] for ti in tasks)
        names = ", ".join(label(ti) for ti in tasks)
        print(f"    {worker}: {len(tasks)} tasks, 429s waited out: {worker_429} — {names}", flush=True)
    sensor = next((ti for ti in instances if ti["task_id"] == "wait_for_taqnyat"), {})
    print(
        f"    wait_for_taqnyat: deferred, resumed from the triggerer on {sensor.get('hostname')}", flush=True
    )
    waits = collections.Counter(count for count in per_task.values() if count)
    print(
        f"    throttled tasks: {sum(waits.values())}, by 429s each: {dict(sorted(waits.items()))}", flush=True
    )
    print(f"    duplicates: {duplicates}", flush=True)

    if state != "success":
        failures.append(f"{run_id} ended {state}")
    if len(sends) < 20:
        failures.append(f"expected at least 20 mapped send tasks, got {len(sends)}")
    not_first_try = [
        f"{label(ti)}: {ti['state']} on try {ti['try_number']}"
        for ti in instances
        if ti["state"] != "success" or ti["try_number"] != 1
    ]
    if not_first_try:
        failures.append(f"tasks that did not succeed on their first try: {not_first_try}")
    if set(by_worker) != set(WORKERS):
        failures.append(f"send tasks ran on {sorted(by_worker)}, expected some on each of {list(WORKERS)}")
    if not deferred["seen"]:
        failures.append("the status sensor never deferred")
    if not throttled:
        failures.append(f"the rate limit {RATE_LIMIT} never answered 429: the test proves nothing")
    logged_429 = sum(per_task.values())
    if logged_429 != len(throttled):
        failures.append(f"the sandbox answered {len(throttled)} 429s, the tasks' logs show {logged_429}")
    for channel, counts in (("called", called), ("texted", texted)):
        if sorted(counts) != sorted(everyone) or set(counts.values()) != {1}:
            twice = sorted(n for n, c in counts.items() if c > 1)
            missing = sorted(set(everyone) - set(counts))
            failures.append(f"not everyone {channel} exactly once: twice {twice}, never {missing}")
    if any(r["auth"] != "missing" for r in received["requests"] if r["endpoint"] == "status"):
        failures.append("a status request carried the token")
    return failures


def label(ti: dict) -> str:
    return ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"


def task_log(deployment: Deployment, run_id: str, ti: dict) -> str:
    folder = deployment.logs / "tasks" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={ti['task_id']}"
    if ti["map_index"] >= 0:
        folder = folder / f"map_index={ti['map_index']}"
    return "".join(path.read_text(errors="replace") for path in sorted(folder.glob("attempt=*.log")))


KILL_DAG_ID = "taqnyat_e2e_celery_kill"
KILL_NUMBERS = ["966500090001", "966500090002", "966500090003", "966500090004"]
KILL_DAG = f"""
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("{KILL_DAG_ID}", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False):
    TaqnyatVoiceOperator(
        task_id="call",
        audio_url="https://cdn.example.com/alert.mp3",
        recipients={KILL_NUMBERS!r},
        batch_size=1,
        retries=1,
        retry_delay=datetime.timedelta(seconds=2),
        on_unknown="skip",
    )
"""


def killed_worker_resumes_elsewhere(deployment: Deployment) -> list[str]:
    """
    SIGKILL the task process while the sandbox holds batch 2's answer, and take its worker away.

    The retry runs on the other worker, reads the send ledger (an Airflow Variable: nothing of it
    lived on the dead worker), skips batch 1 (delivered) and batch 2 (outcome unknown,
    ``on_unknown="skip"``), and sends batches 3 and 4: every number is in exactly one request.
    """
    failures: list[str] = []
    (deployment.work / "dags" / f"{KILL_DAG_ID}.py").write_text(KILL_DAG)
    procs.wait_until(
        f"{KILL_DAG_ID} to be parsed",
        lambda: procs.http("GET", f"{deployment.api}/dags/{KILL_DAG_ID}", token=deployment.jwt)[0] == 200,
        seconds=120,
    )
    deployment.sandbox("POST", "faults", {"kind": "hang", "endpoint": "voice", "skip": 1, "seconds": 90})

    def sent() -> list[str]:
        requests = deployment.sandbox("GET", "requests")["requests"]
        bodies = [r.get("body") or {} for r in requests if r["endpoint"] == "voice" and r["status"] != 429]
        return [n for body in bodies for n in (body.get("recipients") or []) if n in KILL_NUMBERS]

    def task_row() -> tuple:
        rows = query(
            deployment.database_url,
            "SELECT state, try_number, pid, hostname FROM task_instance WHERE dag_id = %s AND task_id = 'call'",
            KILL_DAG_ID,
        )
        return rows[0] if rows else (None, None, None, None)

    deployment.rest("POST", f"/dags/{KILL_DAG_ID}/dagRuns", {"logical_date": None})
    procs.wait_until("batch 2 in flight", lambda: len(sent()) >= 2, seconds=180)
    state, try_number, pid, first_host = task_row()
    log(
        f"{KILL_DAG_ID}: try {try_number} ({state}) is pid {pid} on {first_host}: SIGKILL, then stop {first_host}"
    )
    if not pid or first_host not in deployment.workers:
        return [f"no pid or worker recorded for the running task: {task_row()}"]
    os.kill(int(pid), signal.SIGKILL)
    stopped = deployment.workers.pop(first_host)
    procs.stop(stopped)
    procs.STARTED.remove(stopped)  # gone on purpose: no longer watched for an early exit
    procs.wait_until(
        f"{KILL_DAG_ID} to end", lambda: task_row()[0] in ("success", "failed"), seconds=240, interval=1
    )
    state, try_number, _, second_host = task_row()
    numbers = sent()
    log(f"{KILL_DAG_ID}: ended {state} on try {try_number} on {second_host}; numbers in requests: {numbers}")
    if (state, try_number) != ("success", 2):
        failures.append(f"expected success on try 2, got {state} on try {try_number}")
    if second_host == first_host:
        failures.append(f"try 2 ran on the killed worker {first_host}")
    duplicates = sorted(n for n, count in collections.Counter(numbers).items() if count > 1)
    if sorted(numbers) != KILL_NUMBERS or duplicates:
        failures.append(f"every number once expected, the sandbox received {numbers}")
    print(
        f"    killed worker {first_host}; try 2 on {second_host}; duplicates: {len(duplicates)}", flush=True
    )
    return failures


SCENARIOS: list[Callable[[Deployment], list[str]]] = [mapped_burst, killed_worker_resumes_elsewhere]


# --------------------------------------------------------------------------------------------------


def run(work: Path) -> list[str]:
    deployment = start(work)
    wait_for_workers(deployment)
    failures: list[str] = []
    for scenario in SCENARIOS:
        log(f"scenario: {scenario.__name__}")
        failures += [f"{scenario.__name__}: {failure}" for failure in scenario(deployment)]
    failures += check_no_token(deployment.token, [deployment.logs, work / "airflow"])
    return failures


def main() -> int:
    return procs.run_deployment_test(
        "e2e-celery", run, ("scheduler", "triggerer", "dag-processor", "api-server", *WORKERS, "sandbox")
    )


if __name__ == "__main__":
    sys.exit(main())
