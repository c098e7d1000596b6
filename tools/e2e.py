"""
`make test-e2e`: a real Airflow 3 deployment on PostgreSQL, driven against the sandbox.

Starts PostgreSQL (from Debian's packages) on loopback as the metadata database, the sandbox, and
Airflow's scheduler (LocalExecutor), dag-processor, triggerer and api-server. The recurring-calls
example DAG runs on a one-minute schedule until two scheduled runs have finished, and the test
asserts that:

* every run's deferrable sensor went through the triggerer (the sandbox's status answer is
  degraded for the sensor's first poke, so it must defer; the trigger's poll then succeeds);
* the sandbox received exactly one voice request per run (one batch each), and every task succeeded;
* the connection test works through the API server (``POST /api/v2/connections/test``);
* a run of the deadline-call example that misses its (shortened) deadline makes the triggerer
  place exactly one call and send one SMS naming the DAG, and the run itself still succeeds;
* a voice task inside its quiet hours (a window from a minute ago to a minute or so ahead, given
  in the run's conf) is seen ``deferred``, holds no slot, and calls once, after the window ended,
  with its audio checked first (a ``HEAD`` of a file the sandbox serves, without credentials);
* a voice send whose worker is SIGKILLed mid-send fails its retry as unresolved, having sent
  batches 1-2 only; its send ledger, read back through the public REST API (the task instance's
  task state store: what the UI's Storage tab shows), says batch 1 delivered and batch 2 unknown
  and holds no phone number; a person marks batch 2 "not sent" there (``PATCH``), clears the task,
  and the next try sends exactly batches 2-4, once each, never batch 1 again; the ledger's size
  and the task's "Send ledger" line are printed as figures;
* the token appears in no log of any process (all at DEBUG), nor in the sandbox's console.

Every process is stopped by its PID; the working folder (database included) is removed.
Exit status 0 means every check passed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import procs

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "taqnyat_recurring_calls"
RUNS_WANTED = 2
DEADLINE_SECONDS = 8 * 60
API_USER = "e2e"


def log(message: str) -> None:
    print(f"==> [{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------------
# PostgreSQL


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        log("PostgreSQL is not installed: apt-get install postgresql")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        stop_clusters_the_package_started()
    return Path(found[-1]).parent


def stop_clusters_the_package_started() -> None:
    """Debian's package may create and start a "main" cluster; the test runs its own, so stop it."""
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False)
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "online":
            log(f"stopping the cluster the package started: {fields[0]} {fields[1]}")
            subprocess.run(["pg_ctlcluster", fields[0], fields[1], "stop"], check=False)


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; setpriv execs in place, so the PID stays the server's."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--", *command]


def start_postgres(work: Path) -> str:
    bin_dir = postgres_bin()
    data, sockets = work / "pgdata", work / "pgsock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        as_postgres_user(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = procs.free_port()
    server = procs.start(
        as_postgres_user(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(sockets),
            ]
        ),
        work / "postgres.log",
        dict(os.environ),
    )
    procs.wait_until(
        "PostgreSQL to accept connections",
        lambda: (
            subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            == 0
        ),
        seconds=60,
    )
    subprocess.run(
        [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
        check=True,
    )
    log(f"PostgreSQL {bin_dir.parent.name} (pid {server.pid}) on 127.0.0.1:{port}")
    return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


def query(database_url: str, sql: str, *params: object) -> list[tuple]:
    import psycopg2

    connection = psycopg2.connect(database_url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------------
# The deployment


def set_degraded(sandbox_url: str, degraded: bool) -> None:
    status = {"service": "voice", "description": "Voice service is degraded"} if degraded else {}
    procs.http("POST", f"{sandbox_url}/_sandbox/status", status)


def write_dag(dags: Path) -> None:
    """The example DAG as users get it, on a one-minute schedule and a 5 s trigger poll."""
    source = (ROOT / "example_dags" / f"{DAG_ID}.py").read_text()
    for old, new in (
        ('schedule="0 8 * * 0-4"', 'schedule="* * * * *"'),
        ("poke_interval=30", "poke_interval=5"),
    ):
        if old not in source:
            raise SystemExit(f"example DAG changed: {old!r} not found")
        source = source.replace(old, new)
    (dags / f"{DAG_ID}.py").write_text(source)


KILL_DAG_ID = "taqnyat_e2e_kill"
CLEAR_DAG_ID = "taqnyat_e2e_clear"
KILL_NUMBERS = ["966500000011", "966500000012", "966500000013", "966500000014"]
CLEAR_NUMBER = "966500000021"
SEND_DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False):
    TaqnyatVoiceOperator(
        task_id="call",
        audio_url="https://cdn.example.com/alert.mp3",
        recipients={recipients!r},
        batch_size=1,
        retries=1,
        retry_delay=datetime.timedelta(seconds=2),
    )
"""


def write_send_dags(dags: Path) -> None:
    """Two plain voice sends: one whose worker is killed mid-send, one that is cleared after success."""
    for dag_id, recipients in ((KILL_DAG_ID, KILL_NUMBERS), (CLEAR_DAG_ID, [CLEAR_NUMBER])):
        (dags / f"{dag_id}.py").write_text(SEND_DAG.format(dag_id=dag_id, recipients=recipients))


DEADLINE_DAG_ID = "taqnyat_deadline_call"
DEADLINE_SECONDS_AFTER_QUEUED = 10
DEADLINE_ON_CALL, DEADLINE_TEAM = "966500000031", "966500000032"
QUIET_DAG_ID = "taqnyat_e2e_quiet_hours"
QUIET_NUMBER = "966500000041"
QUIET_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False):
    TaqnyatVoiceOperator(
        task_id="call",
        audio_url="{{ dag_run.conf['audio_url'] }}",
        recipients=["__NUMBER__"],
        quiet_hours=("{{ dag_run.conf['quiet_from'] }}", "{{ dag_run.conf['quiet_to'] }}"),
    )
"""


def write_oncall_dags(dags: Path) -> None:
    """
    The deadline-call example as users get it, with its deadline 10 s after the run is queued (not
    4 h), no schedule (only the run triggered here), and numbers of its own; and a quiet-hours call.
    """
    source = (ROOT / "example_dags" / f"{DEADLINE_DAG_ID}.py").read_text()
    for old, new in (
        ('schedule="0 2 * * *"', "schedule=None"),
        ("interval=timedelta(hours=4)", f"interval=timedelta(seconds={DEADLINE_SECONDS_AFTER_QUEUED})"),
        ('ON_CALL = ["966500000000"]', f'ON_CALL = ["{DEADLINE_ON_CALL}"]'),
        ('TEAM = ["966512345678"]', f'TEAM = ["{DEADLINE_TEAM}"]'),
    ):
        if old not in source:
            raise SystemExit(f"example DAG changed: {old!r} not found")
        source = source.replace(old, new)
    (dags / f"{DEADLINE_DAG_ID}.py").write_text(source)
    quiet = QUIET_DAG.replace("__DAG_ID__", QUIET_DAG_ID).replace("__NUMBER__", QUIET_NUMBER)
    (dags / f"{QUIET_DAG_ID}.py").write_text(quiet)


def received_requests(sandbox_url: str) -> list[dict]:
    _, received = procs.http("GET", f"{sandbox_url}/_sandbox/requests")
    return received["requests"]


def run_state(database_url: str, dag_id: str) -> str | None:
    rows = query(database_url, "SELECT state FROM dag_run WHERE dag_id = %s ORDER BY id DESC LIMIT 1", dag_id)
    return rows[0][0] if rows else None


def deadline_and_quiet_hours(
    database_url: str, sandbox_url: str, api: str, jwt: str, logs: Path
) -> list[str]:
    """Both on-call scenarios at once: a run that misses its deadline, and a call that waits out quiet hours."""
    failures: list[str] = []
    riyadh = ZoneInfo("Asia/Riyadh")
    now = datetime.now(riyadh)
    # A window that began a minute ago and ends at the first whole minute at least 40 s ahead.
    window_end = (now + timedelta(seconds=100)).replace(second=0, microsecond=0)
    conf = {
        "quiet_from": (now - timedelta(minutes=1)).strftime("%H:%M"),
        "quiet_to": window_end.strftime("%H:%M"),
        "audio_url": f"{sandbox_url}/_sandbox/audio/quiet-hours.mp3",
    }
    started = time.monotonic()
    procs.http("POST", f"{api}/dags/{QUIET_DAG_ID}/dagRuns", {"logical_date": None, "conf": conf}, token=jwt)
    procs.http(
        "POST",
        f"{api}/dags/{DEADLINE_DAG_ID}/dagRuns",
        {"logical_date": None, "conf": {"load_seconds": 30}},
        token=jwt,
    )
    log(
        f"{QUIET_DAG_ID}: quiet hours {conf['quiet_from']}-{conf['quiet_to']} Asia/Riyadh; {DEADLINE_DAG_ID}: "
        f"deadline {DEADLINE_SECONDS_AFTER_QUEUED} s after queued, load 30 s"
    )
    seen: dict[str, float] = {}

    def both_done() -> bool:
        quiet = (task_row(database_url, QUIET_DAG_ID) or (None,))[0]
        if quiet == "deferred" and "deferred" not in seen:
            seen["deferred"] = time.monotonic() - started
            log(f"{QUIET_DAG_ID}: the call is deferred ({seen['deferred']:.0f} s after the trigger)")
        return quiet in ("success", "failed") and run_state(database_url, DEADLINE_DAG_ID) in (
            "success",
            "failed",
        )

    procs.wait_until("the quiet-hours call and the deadline run to end", both_done, seconds=300)
    log(f"both on-call scenarios ended {time.monotonic() - started:.0f} s after the trigger")
    requests = received_requests(sandbox_url)

    # Quiet hours: deferred, then one call after the window ended, its audio checked first.
    state, try_number, _, _ = task_row(database_url, QUIET_DAG_ID) or (None, None, None, None)
    calls = [
        r
        for r in requests
        if r["endpoint"] == "voice" and QUIET_NUMBER in (r.get("body") or {}).get("recipients", [])
    ]
    audio = [r for r in requests if r["endpoint"] == "audio" and r["path"].endswith("/quiet-hours.mp3")]
    log(
        f"{QUIET_DAG_ID}: {state} on try {try_number}; seen deferred: {'deferred' in seen}; calls: "
        + ", ".join(f"{datetime.fromtimestamp(r['received_at'], riyadh):%H:%M:%S}" for r in calls)
        + f" (window ended {window_end:%H:%M:%S}); audio probes: {[(r['method'], r['status'], r['auth']) for r in audio]}"
    )
    if (state, try_number) != ("success", 1) or "deferred" not in seen:
        failures.append(
            f"{QUIET_DAG_ID}: expected deferred, then success on try 1; got {state} on try {try_number}"
        )
    if len(calls) != 1 or calls[0]["received_at"] < window_end.timestamp():
        failures.append(f"{QUIET_DAG_ID}: expected one call after {window_end:%H:%M:%S}, got {len(calls)}")
    if not audio or audio[0]["method"] != "HEAD" or any(r["auth"] != "missing" for r in audio):
        failures.append(f"{QUIET_DAG_ID}: the audio was not checked with a credential-free HEAD: {audio}")
    elif calls and audio[-1]["received_at"] > calls[0]["received_at"]:
        failures.append(f"{QUIET_DAG_ID}: the audio was checked after the call")
    task_log = "".join(
        path.read_text(errors="replace")
        for path in (logs / "tasks").rglob("*.log")
        if QUIET_DAG_ID in str(path)
    )
    for line in ("Inside quiet hours", "deferring until", "are over (deferred until"):
        if line not in task_log:
            failures.append(f"{QUIET_DAG_ID}: the task log lacks {line!r}")

    # The deadline: one call and one SMS from the triggerer; the run itself goes on and succeeds.
    deadline_calls = [
        r
        for r in requests
        if r["endpoint"] == "voice" and DEADLINE_ON_CALL in (r.get("body") or {}).get("recipients", [])
    ]
    texts = [
        r
        for r in requests
        if r["endpoint"] == "sms" and DEADLINE_TEAM in (r.get("body") or {}).get("recipients", [])
    ]
    rows = query(database_url, "SELECT type, state, data::text, output FROM callback")
    callbacks = [(row[0], row[1]) for row in rows if "taqnyat_provider.notifications" in row[2]]
    for row in rows:
        if row[1] != "success":
            print(f"    callback {row[0]} {row[1]}: {(row[3] or '')[-600:]}")
    state = run_state(database_url, DEADLINE_DAG_ID)
    log(
        f"{DEADLINE_DAG_ID}: run {state}; deadline calls: {len(deadline_calls)}; texts: "
        f"{[t['body']['body'] for t in texts]}; callbacks: {callbacks}"
    )
    if state != "success":
        failures.append(
            f"{DEADLINE_DAG_ID}: the run should go on and succeed after its deadline, got {state}"
        )
    if len(deadline_calls) != 1 or deadline_calls[0]["auth"] != "ok":
        failures.append(f"{DEADLINE_DAG_ID}: expected exactly one deadline call, got {len(deadline_calls)}")
    [(run_id,)] = query(database_url, "SELECT run_id FROM dag_run WHERE dag_id = %s", DEADLINE_DAG_ID)
    expected = f"{DEADLINE_DAG_ID} is not done 4 h after it started ({run_id})"
    if [t["body"]["body"] for t in texts] != [expected]:
        failures.append(f"{DEADLINE_DAG_ID}: expected one SMS {expected!r}, got {texts}")
    if sorted(callbacks) != [("triggerer", "success"), ("triggerer", "success")]:
        failures.append(f"{DEADLINE_DAG_ID}: expected two successful triggerer callbacks, got {callbacks}")
    announced = [
        path.name
        for path in logs.rglob("*.log")
        if f"Deadline missed by DAG {DEADLINE_DAG_ID}" in path.read_text(errors="replace")
    ]
    log(f"{DEADLINE_DAG_ID}: 'Deadline missed by DAG {DEADLINE_DAG_ID}' logged in {announced}")
    if not announced:
        failures.append(f"{DEADLINE_DAG_ID}: no log line names the DAG that missed its deadline")
    return failures


def sent_to(sandbox_url: str, numbers: list[str]) -> list[str]:
    """Every listed number in every voice request the sandbox received, answered or not."""
    _, received = procs.http("GET", f"{sandbox_url}/_sandbox/requests")
    bodies = [r.get("body") or {} for r in received["requests"] if r["endpoint"] == "voice"]
    return [n for body in bodies for n in (body.get("recipients") or []) if n in numbers]


def task_row(database_url: str, dag_id: str) -> tuple | None:
    rows = query(
        database_url,
        "SELECT state, try_number, pid, hostname FROM task_instance WHERE dag_id = %s AND task_id = 'call'",
        dag_id,
    )
    return rows[0] if rows else None


def kill_mid_send(database_url: str, sandbox_url: str, api: str, jwt: str, logs: Path) -> list[str]:
    """
    SIGKILL the task process while the sandbox holds batch 2's answer; the scheduler retries it.

    The retry must read the send ledger, see batch 2 in flight, send nothing and fail naming the
    number that may have been called; batches 3 and 4 are never sent, nobody twice.
    """
    failures = []
    procs.http(
        "POST",
        f"{sandbox_url}/_sandbox/faults",
        {"kind": "hang", "endpoint": "voice", "skip": 1, "seconds": 90},
    )
    procs.http("POST", f"{api}/dags/{KILL_DAG_ID}/dagRuns", {"logical_date": None}, token=jwt)
    procs.wait_until("batch 2 in flight", lambda: len(sent_to(sandbox_url, KILL_NUMBERS)) >= 2, seconds=180)
    state, try_number, pid, hostname = task_row(database_url, KILL_DAG_ID) or (None, None, None, None)
    log(f"{KILL_DAG_ID}: try {try_number} ({state}) runs as pid {pid} on {hostname}: SIGKILL")
    if not pid:
        return [f"{KILL_DAG_ID}: no pid recorded for the running task ({state})"]
    os.kill(int(pid), signal.SIGKILL)
    procs.wait_until(
        f"{KILL_DAG_ID} to end",
        lambda: (task_row(database_url, KILL_DAG_ID) or ("",))[0] in ("failed", "success"),
        seconds=240,
    )
    state, try_number, _, _ = task_row(database_url, KILL_DAG_ID) or (None, None, None, None)
    sent = sent_to(sandbox_url, KILL_NUMBERS)
    log(f"{KILL_DAG_ID}: ended {state} on try {try_number}; numbers in requests: {sent}")
    if (state, try_number) != ("failed", 2):
        failures.append(f"{KILL_DAG_ID}: expected failed on try 2, got {state} on try {try_number}")
    if sent != KILL_NUMBERS[:2]:
        failures.append(
            f"{KILL_DAG_ID}: the sandbox received {sent}, expected each of {KILL_NUMBERS[:2]} once"
        )
    try_logs = sorted((logs / "tasks").rglob(f"*{KILL_DAG_ID}*/**/attempt=2*.log")) or sorted(
        path for path in (logs / "tasks").rglob("attempt=2*") if KILL_DAG_ID in str(path)
    )
    text = "".join(path.read_text(errors="replace") for path in try_logs)
    if "UnresolvedDeliveryError" not in text or f"Maybe reached (1): {KILL_NUMBERS[1]}" not in text:
        failures.append(f"{KILL_DAG_ID}: try 2's log does not name the unresolved batch ({try_logs})")
    return failures


LEDGER_HEAD = "taqnyat.send"
LEDGER_BATCH = LEDGER_HEAD + ".batch.{:05d}"
LEDGER_LINE = re.compile(r"Send ledger: (\d+) writes, (\d+) bytes written, (\d+) bytes kept")


def state_store(
    api: str, jwt: str, dag_id: str, run_id: str, task_id: str = "call"
) -> tuple[str, dict[str, dict]]:
    """The task instance's task state store through the public REST API: its URL and key -> row."""
    url = f"{api}/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}/state-store"
    status, body = procs.http("GET", f"{url}?map_index=-1", token=jwt)
    if status != 200:
        raise SystemExit(f"GET {url}: HTTP {status} {body}")
    return url, {row["key"]: row for row in body["task_state_store"]}


def ledger_size(rows: dict[str, dict]) -> int:
    """Bytes the ledger keeps: each key's value as compact JSON, as the provider writes it."""
    return sum(len(json.dumps(row["value"], separators=(",", ":"))) for row in rows.values())


def resolve_and_clear(
    database_url: str, sandbox_url: str, api: str, jwt: str, env: dict, logs: Path
) -> list[str]:
    """
    After kill_mid_send: a person reads the send ledger through the REST API, says batch 2 was
    not sent (the documented resolution), clears the task; the next try sends the rest once.

    The header and batch keys are the operator's task state store entries (Airflow 3.3), so this
    also proves the ledger is there and not in Variables.
    """
    failures: list[str] = []
    [(run_id,)] = query(database_url, "SELECT run_id FROM dag_run WHERE dag_id = %s", KILL_DAG_ID)
    url, rows = state_store(api, jwt, KILL_DAG_ID, run_id)
    values = {key: row["value"] for key, row in rows.items()}
    log(f"{KILL_DAG_ID}: state store via REST: " + json.dumps(values, sort_keys=True))
    header = values.get(LEDGER_HEAD) or {}
    first, second = values.get(LEDGER_BATCH.format(1)) or {}, values.get(LEDGER_BATCH.format(2)) or {}
    if (header.get("version"), header.get("status"), header.get("total_batches")) != (2, "sending", 4):
        failures.append(f"{KILL_DAG_ID}: expected a version-2 header 'sending' over 4 batches, got {header}")
    if rows.get(LEDGER_HEAD, {}).get("expires_at") is not None:
        failures.append(f"{KILL_DAG_ID}: the header of a send under way expires: {rows[LEDGER_HEAD]}")
    if first.get("state") != "delivered" or not first.get("message_id"):
        failures.append(f"{KILL_DAG_ID}: expected batch 1 delivered with a message id, got {first}")
    if second.get("state") != "unknown":
        failures.append(f"{KILL_DAG_ID}: expected batch 2 unknown (try 2 read it in flight), got {second}")
    if set(rows) - {LEDGER_HEAD, LEDGER_BATCH.format(1), LEDGER_BATCH.format(2)}:
        failures.append(f"{KILL_DAG_ID}: keys for batches never sent: {sorted(rows)}")
    text = json.dumps(values)
    if re.search(r"9665\d{8}", text) or any(n[3:] in text for n in KILL_NUMBERS):
        failures.append(f"{KILL_DAG_ID}: a phone number is in the send ledger: {text}")
    variables = query(database_url, "SELECT key FROM variable WHERE key LIKE 'taqnyat_ledger.%%'")
    if variables:
        failures.append(f"{KILL_DAG_ID}: the ledger went to Variables on Airflow 3.3: {variables}")
    if failures:
        return failures

    # The documented resolution: the person checked the account's archive and batch 2 never went out.
    resolved = {**second, "state": "not_sent"}
    status, answer = procs.http(
        "PATCH", f"{url}/{LEDGER_BATCH.format(2)}?map_index=-1", {"value": resolved}, token=jwt
    )
    log(
        f"PATCH {url.removeprefix(api)}/{LEDGER_BATCH.format(2)} {json.dumps({'value': resolved})} -> {status}"
    )
    if status != 200:
        return [f"{KILL_DAG_ID}: PATCH of batch 2 answered HTTP {status} {answer}"]
    _, rows = state_store(api, jwt, KILL_DAG_ID, run_id)
    if (
        rows[LEDGER_BATCH.format(2)]["value"] != resolved
        or rows[LEDGER_BATCH.format(2)]["expires_at"] is not None
    ):
        failures.append(f"{KILL_DAG_ID}: batch 2 after PATCH: {rows[LEDGER_BATCH.format(2)]}")

    before = Counter(sent_to(sandbox_url, KILL_NUMBERS))
    started = time.monotonic()
    cleared = subprocess.run(
        airflow("tasks", "clear", "--yes", "--task-regex", "call", KILL_DAG_ID),
        env=env,
        capture_output=True,
        text=True,
    )
    if cleared.returncode != 0:
        return [*failures, f"airflow tasks clear {KILL_DAG_ID} failed: {cleared.stderr[-2000:]}"]
    procs.wait_until(
        f"{KILL_DAG_ID} to end after the clear",
        lambda: (task_row(database_url, KILL_DAG_ID) or ("", 0))[:2] in (("success", 3), ("failed", 3)),
        seconds=180,
    )
    state, try_number, _, _ = task_row(database_url, KILL_DAG_ID) or (None, None, None, None)
    counts = Counter(sent_to(sandbox_url, KILL_NUMBERS))
    log(
        f"{KILL_DAG_ID}: cleared after resolving batch 2 as not sent: {state} on try {try_number} "
        f"({time.monotonic() - started:.0f} s); requests per number before {dict(before)}, after {dict(counts)}"
    )
    if (state, try_number) != ("success", 3):
        failures.append(
            f"{KILL_DAG_ID}: expected success on try 3 after the clear, got {state} on try {try_number}"
        )
    # Batch 1 never again; batch 2 once more (the killed try's request + the resend); 3 and 4 once.
    expected = dict(zip(KILL_NUMBERS, (1, 2, 1, 1), strict=True))
    if dict(counts) != expected:
        failures.append(f"{KILL_DAG_ID}: requests per number {dict(counts)}, expected {expected}")

    _, rows = state_store(api, jwt, KILL_DAG_ID, run_id)
    values = {key: row["value"] for key, row in rows.items()}
    states = {key: value.get("state") for key, value in values.items() if key != LEDGER_HEAD}
    # Batch 4's record is in the complete header (``last``), written with "complete" in one write.
    last = values.get(LEDGER_HEAD, {}).get("last") or {}
    states[LEDGER_BATCH.format(last.get("batch", 0))] = last.get("state")
    expected_keys = {LEDGER_BATCH.format(n): "delivered" for n in range(1, 5)}
    if values.get(LEDGER_HEAD, {}).get("status") != "complete" or states != expected_keys:
        failures.append(f"{KILL_DAG_ID}: the ledger after the resend: {values}")
    if re.search(r"9665\d{8}", json.dumps(values)):
        failures.append(f"{KILL_DAG_ID}: a phone number is in the complete send ledger")
    try_logs = [path for path in (logs / "tasks").rglob("attempt=3*.log") if KILL_DAG_ID in str(path)]
    task_log = "".join(path.read_text(errors="replace") for path in try_logs)
    line = LEDGER_LINE.search(task_log)
    kept = ledger_size(rows)
    log(
        f"FIGURES {KILL_DAG_ID} ledger after the resend (PostgreSQL, REST): {len(rows)} keys, {kept} bytes; "
        + (
            f"try 3 logged 'Send ledger: {line[1]} writes, {line[2]} bytes written, {line[3]} bytes kept'"
            if line
            else "no 'Send ledger' line in try 3's log"
        )
    )
    for key, row in sorted(rows.items()):
        print(
            f"    {key}: {len(json.dumps(row['value'], separators=(',', ':')))} bytes, expires_at {row['expires_at']}"
        )
    if not line:
        failures.append(f"{KILL_DAG_ID}: try 3's log has no 'Send ledger' line ({try_logs})")
    else:
        # One write per batch sent (2-4; "batch k delivered" names k+1 in flight), plus batch 2's
        # own "in flight" (no earlier write named it); batch 4's record is the header marked complete.
        if int(line[1]) > 3 + 1:
            failures.append(f"{KILL_DAG_ID}: try 3 wrote more than one record per batch: {line[0]}")
        # What try 3 says it keeps is what the REST API shows of the keys it wrote.
        written = {LEDGER_HEAD, *(LEDGER_BATCH.format(n) for n in (2, 3))}
        if int(line[3]) != ledger_size({key: rows[key] for key in written if key in rows}):
            failures.append(f"{KILL_DAG_ID}: {line[0]!r} disagrees with the REST API's sizes")
    if "Resuming from the send ledger" not in task_log:
        failures.append(f"{KILL_DAG_ID}: try 3's log does not say it resumed from the send ledger")
    return failures


def clear_after_success(database_url: str, sandbox_url: str, api: str, jwt: str, env: dict) -> list[str]:
    """A completed send is history: ``airflow tasks clear`` makes it send again, exactly once."""
    failures = []
    procs.http("POST", f"{api}/dags/{CLEAR_DAG_ID}/dagRuns", {"logical_date": None}, token=jwt)
    procs.wait_until(
        f"{CLEAR_DAG_ID} to succeed",
        lambda: (task_row(database_url, CLEAR_DAG_ID) or ("",))[0] == "success",
        seconds=180,
    )
    cleared = subprocess.run(
        airflow("tasks", "clear", "--yes", "--task-regex", "call", CLEAR_DAG_ID),
        env=env,
        capture_output=True,
        text=True,
    )
    if cleared.returncode != 0:
        return [f"airflow tasks clear failed: {cleared.stderr[-2000:]}"]
    procs.wait_until(
        f"{CLEAR_DAG_ID} to run again",
        lambda: (task_row(database_url, CLEAR_DAG_ID) or ("", 0))[:2] == ("success", 2),
        seconds=180,
    )
    sent = sent_to(sandbox_url, [CLEAR_NUMBER])
    log(f"{CLEAR_DAG_ID}: cleared after success; {CLEAR_NUMBER} was in {len(sent)} request(s)")
    if len(sent) != 2:
        failures.append(f"{CLEAR_DAG_ID}: a cleared send should go out exactly once more, saw {len(sent)}")
    return failures


def airflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def run_deployment(work: Path) -> list[str]:
    """Run everything; return the failed checks (empty when all passed)."""
    failures: list[str] = []
    token = secrets.token_hex(20)
    home, dags, logs = work / "airflow", work / "dags", work / "logs"
    for folder in (home, dags, logs):
        folder.mkdir()
    database_url = start_postgres(work)

    env = {**os.environ, "TAQNYAT_SANDBOX_TOKEN": token}
    sandbox, sandbox_url = procs.start_sandbox(logs, env)
    log(f"sandbox (pid {sandbox.pid}) on {sandbox_url}")

    api_port, api_password = procs.api_user(home, API_USER)
    env.update(
        procs.airflow_env(
            home=home,
            dags=dags,
            logs=logs,
            database_url=database_url,
            api_port=api_port,
            user=API_USER,
            executor="LocalExecutor",
            connection={
                "host": sandbox_url,
                "password": token,
                "extra": {"caller_id": "966500000001", "sender": "Taqnyat.sa"},
            },
        )
    )
    env.update(
        {
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            # DEBUG everywhere, so that the token search below also covers what debugging prints.
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        }
    )
    write_dag(dags)
    write_send_dags(dags)
    write_oncall_dags(dags)
    log("airflow db migrate (PostgreSQL)")
    migrate = subprocess.run(airflow("db", "migrate"), env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}")

    # Each run's first poke must see trouble, so that the sensor defers to the triggerer.
    set_degraded(sandbox_url, True)
    # The api-server first: task runners report to its execution API from their first second.
    components = {"api-server": procs.start(airflow("api-server"), logs / "api-server.log", env)}
    procs.wait_until(
        "the api-server",
        lambda: procs.http("GET", f"http://127.0.0.1:{api_port}/api/v2/monitor/health")[0] == 200,
        seconds=120,
    )
    for component in ("dag-processor", "scheduler", "triggerer"):
        components[component] = procs.start(airflow(component), logs / f"{component}.log", env)
    for component, process in components.items():
        log(f"airflow {component} (pid {process.pid})")

    finished: list[str] = []
    recovered: set[str] = set()

    def runs_done() -> bool:
        """Steer the sandbox run by run: degraded until the sensor defers, then operational."""
        sensors = query(
            database_url,
            "SELECT ti.run_id, ti.state FROM task_instance ti JOIN dag_run r"
            " ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id"
            " WHERE ti.dag_id = %s AND ti.task_id = 'wait_for_taqnyat' AND r.run_type = 'scheduled'",
            DAG_ID,
        )
        for run_id, state in sensors:
            if state == "deferred" and run_id not in recovered:
                recovered.add(run_id)
                set_degraded(sandbox_url, False)
                log(f"{run_id}: the sensor deferred; the sandbox says operational again")
            elif state == "success" and run_id in recovered and run_id not in finished:
                finished.append(run_id)
                set_degraded(sandbox_url, True)  # before the next run's first poke
        runs = query(
            database_url,
            "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'scheduled' ORDER BY id",
            DAG_ID,
        )
        for run_id, state in runs:
            if state == "failed":
                raise SystemExit(f"scheduled run {run_id} failed")
        done = [run_id for run_id, state in runs if state == "success" and run_id in finished]
        if len(done) >= RUNS_WANTED:
            log(f"scheduled runs succeeded: {done}")
        return len(done) >= RUNS_WANTED

    procs.wait_until(
        f"{RUNS_WANTED} scheduled runs to succeed", runs_done, seconds=DEADLINE_SECONDS, interval=0.5
    )

    status, body = procs.http(
        "POST", f"http://127.0.0.1:{api_port}/auth/token", {"username": API_USER, "password": api_password}
    )
    jwt = body.get("access_token")
    if not jwt:
        failures.append(f"no API token: HTTP {status} {body}")
    api = f"http://127.0.0.1:{api_port}/api/v2"
    procs.http("PATCH", f"{api}/dags/{DAG_ID}", {"is_paused": True}, token=jwt)
    procs.wait_until(
        "running runs to end after pausing",
        lambda: (
            not query(
                database_url,
                "SELECT 1 FROM dag_run WHERE dag_id = %s AND state IN ('running', 'queued')",
                DAG_ID,
            )
        ),
        seconds=120,
    )

    # The connection test through the API server: one good, one with a wrong token.
    for password, expected in ((token, True), ("wrong-token", False)):
        status, body = procs.http(
            "POST",
            f"{api}/connections/test",
            {
                "connection_id": "taqnyat_e2e",
                "conn_type": "taqnyat",
                "host": sandbox_url,
                "password": password,
            },
            token=jwt,
        )
        log(f"POST /api/v2/connections/test -> {status} {body}")
        if status != 200 or body.get("status") is not expected:
            failures.append(
                f"connection test with {'good' if expected else 'bad'} token: HTTP {status} {body}"
            )
        if token in json.dumps(body):
            failures.append("the connection test's answer shows the token")

    # Before the kill scenario, whose sandbox fault would catch these calls.
    failures += deadline_and_quiet_hours(database_url, sandbox_url, api, jwt, logs)
    killed = kill_mid_send(database_url, sandbox_url, api, jwt, logs)
    failures += killed or resolve_and_clear(database_url, sandbox_url, api, jwt, env, logs)
    failures += clear_after_success(database_url, sandbox_url, api, jwt, env)

    _, received = procs.http("GET", f"{sandbox_url}/_sandbox/requests")
    for component, process in components.items():
        procs.stop(process)
        log(f"stopped airflow {component} (pid {process.pid}, exit {process.returncode})")

    failures += check_runs(database_url, received)
    failures += check_triggerer(logs, finished)
    failures += check_no_token(token, [logs, home])
    return failures


def check_runs(database_url: str, received: dict) -> list[str]:
    failures = []
    runs = query(
        database_url, "SELECT run_id, state, run_type FROM dag_run WHERE dag_id = %s ORDER BY id", DAG_ID
    )
    tasks = query(
        database_url,
        "SELECT run_id, task_id, state, try_number FROM task_instance WHERE dag_id = %s ORDER BY run_id, task_id",
        DAG_ID,
    )
    log(f"runs: {runs}")
    log(f"task instances: {tasks}")
    # The kill and clear scenarios call numbers of their own; they are checked where they run.
    others = {*KILL_NUMBERS, CLEAR_NUMBER, DEADLINE_ON_CALL, DEADLINE_TEAM, QUIET_NUMBER}
    voice = [
        r
        for r in received["requests"]
        if r["endpoint"] == "voice" and not others & set((r.get("body") or {}).get("recipients") or [])
    ]
    received["calls"] = [c for c in received["calls"] if not others & set(c["accepted"])]
    statuses = [r for r in received["requests"] if r["endpoint"] == "status"]
    log(
        f"sandbox: {len(voice)} voice request(s), {len(statuses)} status request(s), {len(received['calls'])} call(s)"
    )
    succeeded = [run_id for run_id, state, _ in runs if state == "success"]
    if len([1 for _, state, kind in runs if state == "success" and kind == "scheduled"]) < RUNS_WANTED:
        failures.append(f"fewer than {RUNS_WANTED} scheduled runs succeeded: {runs}")
    if any(state != "success" for _, state, _ in runs):
        failures.append(f"a run did not succeed: {runs}")
    if any(state != "success" or try_number != 1 for _, _, state, try_number in tasks):
        failures.append(f"a task did not succeed on its first try: {tasks}")
    if len(voice) != len(succeeded) or len(received["calls"]) != len(succeeded):
        failures.append(f"expected exactly one voice request per run ({len(succeeded)}), got {len(voice)}")
    if any(r["body"]["recipients"] != ["966500000000", "966512345678"] for r in voice):
        failures.append("a voice request had unexpected recipients")
    if any(r["auth"] != "missing" for r in statuses):
        failures.append("a status request carried the token")
    if len(statuses) < 2 * len(succeeded):
        failures.append(
            f"expected a degraded poke and a trigger poll per run, got {len(statuses)} status requests"
        )
    return failures


def check_triggerer(logs: Path, finished: list[str]) -> list[str]:
    """
    Each run's sensor was seen ``deferred`` in the database (``finished`` holds only those), its log
    says it deferred, and it came back through the trigger's event: the trigger's own log shows the
    success event, or the sensor's log shows ``execute_complete`` (which only a trigger event calls)
    after the deferral. Airflow writes the per-trigger log file itself, and on a busy machine the
    first trigger's file has been seen without its lines, hence the second source.
    """
    failures = []
    for run_id in finished:
        task_dir = logs / "tasks" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=wait_for_taqnyat"
        task_log = "".join(path.read_text(errors="replace") for path in task_dir.glob("attempt=*.log"))
        trigger_log = "".join(
            path.read_text(errors="replace") for path in task_dir.glob("attempt=*.log.trigger.*.log")
        )
        fired = [line for line in trigger_log.splitlines() if "Trigger fired event" in line]
        deferred_at = task_log.find("Pausing task as DEFERRED")
        resumed = deferred_at >= 0 and task_log.find("Taqnyat is operational", deferred_at) > deferred_at
        log(
            f"{run_id}: sensor deferred: {deferred_at >= 0}; trigger events: {len(fired)}; resumed: {resumed}"
        )
        for line in fired:
            print("    " + json.loads(line).get("result", line)[:160])
        if deferred_at < 0:
            failures.append(f"{run_id}: the sensor never deferred")
        if not (any("'status': 'success'" in line for line in fired) or resumed):
            failures.append(
                f"{run_id}: no sign that the TaqnyatStatusTrigger's success event resumed the sensor"
            )
    return failures


def check_no_token(token: str, folders: list[Path]) -> list[str]:
    leaks = []
    files = [path for folder in folders for path in folder.rglob("*") if path.is_file()]
    for path in files:
        if path.name == "passwords.json":
            continue
        if token in path.read_text(errors="replace"):
            leaks.append(str(path))
    log(
        f"token searched in {len(files)} log and state files: {'LEAKED in ' + str(leaks) if leaks else 'not found'}"
    )
    return [f"token leaked into {path}" for path in leaks]


def main() -> int:
    return procs.run_deployment_test(
        "e2e", run_deployment, ("scheduler", "triggerer", "dag-processor", "api-server", "sandbox")
    )


if __name__ == "__main__":
    sys.exit(main())
