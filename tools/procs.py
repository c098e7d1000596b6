"""Processes the demo and the deployment test start: each is stopped by its own PID, always."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

STARTED: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], log_path: Path, env: dict[str, str], **options) -> subprocess.Popen:
    """Start ``command`` in its own session, output to ``log_path``; remembered for ``stop_all``."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **options
        )
    STARTED.append(process)
    return process


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 30) -> None:
    """Ask the process to stop by its PID; after ``grace`` seconds kill its whole session."""
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Children it forked (task runners, workers) live in its session: none may outlive it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def stop_all() -> None:
    while STARTED:
        stop(STARTED.pop())


def wait_until(what: str, check: Callable[[], object], seconds: float, interval: float = 0.5) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in STARTED:
            if process.poll() is not None:
                raise SystemExit(
                    f"{process.args[:4]} (pid {process.pid}) exited early with {process.returncode}"
                )
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise SystemExit(f"timed out after {seconds:.0f} s waiting for {what}")


def start_sandbox(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """The sandbox CLI on a free loopback port (token from TAQNYAT_SANDBOX_TOKEN); returns its URL."""
    port_file = home / "sandbox.port"
    sandbox = start(
        [sys.executable, "-m", "taqnyat_provider.sandbox", "--port", "0", "--port-file", str(port_file)],
        home / "sandbox.log",
        env,
    )
    wait_until(
        "the sandbox to listen", lambda: port_file.exists() and port_file.read_text().strip(), seconds=30
    )
    url = f"http://127.0.0.1:{int(port_file.read_text())}"
    remember_sandbox(url, env)
    return sandbox, url


SANDBOX_TOKENS: dict[str, str] = {}
"""The token of each sandbox started here, by URL: its admin endpoints (``/_sandbox/``) need it."""


def remember_sandbox(url: str, env: dict[str, str]) -> None:
    SANDBOX_TOKENS[url] = env.get("TAQNYAT_SANDBOX_TOKEN") or "sandbox-token"


def http(method: str, url: str, payload: object = None, token: str | None = None) -> tuple[int, dict]:
    """A JSON request; returns (status, body), with status 0 when nothing answered."""
    if token is None and "/_sandbox/" in url:  # a sandbox admin call carries the sandbox's token
        token = next((known for base, known in SANDBOX_TOKENS.items() if url.startswith(base + "/")), None)
    request = urllib.request.Request(
        url,
        method=method,
        data=None if payload is None else json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read() or b"{}"
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"text": text[:300].decode(errors="replace")}
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, {"error": str(error)}


def _stop_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def run_deployment_test(name: str, run: Callable[[Path], list[str]], log_names: tuple[str, ...]) -> int:
    """
    Run a deployment test in a fresh folder; stop everything it started, report, clean up.

    ``run`` returns the failed checks. ``timeout`` sends SIGTERM: it becomes SystemExit, so every
    process is still stopped by its PID (newest first: workers before the scheduler, the databases
    last; PostgreSQL with SIGINT, its fast shutdown). ``TAQNYAT_E2E_KEEP=1`` keeps the folder.
    """
    import shutil
    import tempfile

    signal.signal(signal.SIGTERM, _stop_on_signal)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"taqnyat-{name}-"))
    failures: list[str] = []
    try:
        failures = run(work)
    except SystemExit as stop_reason:
        failures = [str(stop_reason)]
    finally:
        for process in reversed(STARTED):
            stop(process, sig=signal.SIGINT if "postgres" in str(process.args) else signal.SIGTERM)
            what = " ".join(map(str, [Path(str(process.args[0])).name, *process.args[1:4]]))
            print(f"==> stopped pid {process.pid} ({what}, exit {process.returncode})", flush=True)
        STARTED.clear()
        if failures:
            for log_name in log_names:
                path = work / "logs" / f"{log_name}.log"
                if path.exists():
                    print(f"---- last lines of {log_name}.log")
                    print("\n".join(path.read_text(errors="replace").splitlines()[-25:]))
        if os.environ.get("TAQNYAT_E2E_KEEP") == "1":
            print(f"==> kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    if failures:
        print(f"==> {name} FAILED after {elapsed:.0f} s:", flush=True)
        for failure in failures:
            print(f"    - {failure}")
        return 1
    print(f"==> {name} passed in {elapsed:.0f} s", flush=True)
    return 0


def airflow_env(
    *,
    home: Path,
    dags: Path,
    logs: Path,
    database_url: str,
    api_port: int,
    user: str,
    executor: str,
    connection: dict,
) -> dict[str, str]:
    """
    What every deployment test's Airflow processes share: the folders, the metadata database, the
    api-server with the simple auth manager (the user's password is in ``home/passwords.json``),
    short heartbeats, and ``taqnyat_default`` as the ``connection`` dict. Callers add their own.
    """
    import secrets

    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs / "tasks"),
        "AIRFLOW_CONN_TAQNYAT_DEFAULT": json.dumps({"conn_type": "taqnyat", **connection}),
    }


def uv() -> str:
    """The uv next to the interpreter running the tool (the Makefile installs it in every venv)."""
    import shutil

    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        sys.exit("uv not found: run this with the project's venv (`make venv` installs uv there)")
    return found


def the_wheel(dist: Path) -> Path:
    """The one provider wheel ``make dist`` left in ``dist``."""
    wheels = sorted(dist.glob("airflow_provider_taqnyat-*-py3-none-any.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected exactly one wheel in {dist} (run `make dist`), found {[w.name for w in wheels]}")
    return wheels[0]


def api_user(home: Path, user: str) -> tuple[int, str]:
    """
    A free port for the api-server and a fresh password for ``user``, written where
    :func:`airflow_env` points the simple auth manager (``home/passwords.json``).
    """
    import secrets

    password = secrets.token_hex(8)
    (home / "passwords.json").write_text(json.dumps({user: password}))
    return free_port(), password
