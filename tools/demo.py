"""
`make demo`: run the recurring-calls example DAG in a real Airflow against the sandbox.

Starts the sandbox on a free loopback port (its own process, stopped by PID), points
``taqnyat_default`` at it, runs ``airflow dags test`` on a throwaway AIRFLOW_HOME (SQLite) and
prints what the sandbox received.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import procs

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "taqnyat_recurring_calls"


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="taqnyat-demo-"))
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "TAQNYAT_SANDBOX_TOKEN": token,
    }
    sandbox_log = home / "sandbox.log"
    try:
        sandbox, base_url = procs.start_sandbox(home, env)
        print(f"==> sandbox (pid {sandbox.pid}) listening on {base_url}")
        env["AIRFLOW_CONN_TAQNYAT_DEFAULT"] = json.dumps(
            {
                "conn_type": "taqnyat",
                "host": base_url,
                "password": token,
                "extra": {"caller_id": "966500000001"},
            }
        )
        print(f"==> airflow db migrate (AIRFLOW_HOME={home})")
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"==> airflow dags test {DAG_ID}")
        run = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", DAG_ID],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        (home / "dags-test.log").write_text(run.stdout)
        for line in run.stdout.splitlines():
            if any(word in line for word in ("Taqnyat", "Batch", "Delivered", "DagRun Finished", "Placing")):
                print("    " + line.strip()[:220])
        status, received = procs.http("GET", f"{base_url}/_sandbox/requests")
        if status != 200:
            raise SystemExit(f"could not read what the sandbox received: {status} {received}")
        print("==> what the sandbox received")
        for request in received["requests"]:
            body = request["body"] if isinstance(request["body"], dict) else {}
            detail = f" recipients={body.get('recipients')}" if "recipients" in body else ""
            print(
                f"    {request['method']} {request['path']} -> {request['status']} auth={request['auth']}{detail}"
            )
        print(f"==> calls placed: {len(received['calls'])}; balance left: {received['balance']} SAR")
        leaked = token in run.stdout or token in sandbox_log.read_text()
        if run.returncode != 0 or leaked:
            print(run.stdout[-4000:])
            print("==> demo FAILED" + (" (token leaked into output)" if leaked else ""))
            return 1
        print("==> demo succeeded")
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
