"""
Secret-leak suite: the Bearer token must appear nowhere, even with DEBUG logging everywhere.

One DAG exercises every path that touches the token (voice and SMS sends, a scheduled SMS, an
unknown outcome, an API error, the deferrable sensor through its trigger, both notifiers on a
failed task) in ``airflow dags test`` run as its own process with DEBUG logging for Airflow,
requests/urllib3 and aiohttp, against the sandbox CLI in another process. Then the token is
searched for in: the run's whole output, every file under AIRFLOW_HOME (task and trigger logs),
XCom, rendered template fields, serialized triggers, and the sandbox's console.

The worker's environment is hostile too: ``HTTP_PROXY``/``HTTPS_PROXY`` name a proxy with a password
(nothing listens there: a request through it would fail the run) and a ``.netrc`` holds a corporate
password for every host. Neither may be used, and neither secret may show up anywhere.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
import urllib.request

import pytest

pytestmark = pytest.mark.integration

DAG_ID = "taqnyat_secret_leak"
DAG = """
import logging
import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from taqnyat_provider.notifications.sms import send_taqnyat_sms
from taqnyat_provider.notifications.voice import send_taqnyat_voice_call
from taqnyat_provider.operators.sms import TaqnyatSmsOperator
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator
from taqnyat_provider.sensors.status import TaqnyatStatusSensor

for name in ("airflow", "urllib3", "requests", "aiohttp", "asyncio", "taqnyat_provider"):
    logging.getLogger(name).setLevel(logging.DEBUG)

AUDIO = "https://cdn.example.com/alert.mp3"
with DAG("taqnyat_secret_leak", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
    wait = TaqnyatStatusSensor(task_id="wait", deferrable=True, poke_interval=0.5, timeout=60)
    call = TaqnyatVoiceOperator(task_id="call", audio_url=AUDIO, recipients=["966500000000"], min_balance=1)
    text = TaqnyatSmsOperator(task_id="text", body="Hi {{ ds }}", recipients="966500000000")
    later = TaqnyatSmsOperator(task_id="later", body="Later", recipients=["966500000000"],
                               scheduled_at=pendulum.now("UTC").add(hours=2))
    unknown = TaqnyatVoiceOperator(task_id="unknown", audio_url=AUDIO, recipients=["966512345678"],
                                   trigger_rule="all_done")
    refused = TaqnyatSmsOperator(task_id="refused", body="x", recipients=["966512345678"], trigger_rule="all_done")

    @task(trigger_rule="all_done",
          on_failure_callback=[
              send_taqnyat_voice_call(audio_url=AUDIO, recipients=["966551234567"]),
              send_taqnyat_sms(body="{{ ti.task_id }} failed", recipients=["966551234567"]),
          ])
    def breaks():
        raise RuntimeError("boom")

    wait >> call >> text >> later >> unknown >> refused >> breaks()
"""


def _post(url: str, payload: dict, token: str) -> None:
    """A sandbox admin request: JSON, with the sandbox token."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory):
    """Run the DAG once with DEBUG everywhere; yield the token and where to look for it."""
    work = tmp_path_factory.mktemp("leak")
    home, dags = work / "airflow", work / "dags"
    home.mkdir()
    dags.mkdir()
    (dags / f"{DAG_ID}.py").write_text(DAG)
    token = "tq-" + secrets.token_hex(24)
    netrc_secret, proxy_secret = "netrc-" + secrets.token_hex(12), "proxy-" + secrets.token_hex(12)
    netrc = work / "netrc"
    netrc.write_text(f"default login corporate password {netrc_secret}\n")
    netrc.chmod(0o600)
    proxy = f"http://corporate:{proxy_secret}@127.0.0.1:9"
    env = {
        **os.environ,
        "NETRC": str(netrc),
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "TAQNYAT_SANDBOX_TOKEN": token,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        "AIRFLOW__LOGGING__FAB_LOGGING_LEVEL": "DEBUG",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    port_file = work / "port"
    console = (work / "sandbox-console.log").open("w")
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "taqnyat_provider.sandbox", "--port", "0", "--port-file", str(port_file)],
        env=env,
        stdout=console,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and sandbox.poll() is None, "sandbox did not start"
            time.sleep(0.1)
        base_url = f"http://127.0.0.1:{int(port_file.read_text())}"
        env["AIRFLOW_CONN_TAQNYAT_DEFAULT"] = json.dumps(
            {
                "conn_type": "taqnyat",
                "host": base_url,
                "password": token,
                "extra": {"timeout": 2, "caller_id": "966500000001", "sender": "Taqnyat.sa"},
            }
        )
        _post(f"{base_url}/_sandbox/faults", {"kind": "degraded", "endpoint": "status"}, token)
        _post(f"{base_url}/_sandbox/faults", {"kind": "500", "endpoint": "voice", "skip": 1}, token)
        _post(f"{base_url}/_sandbox/faults", {"kind": "error:104", "endpoint": "sms", "skip": 2}, token)
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
        )
        run = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", DAG_ID],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        admin = urllib.request.Request(
            f"{base_url}/_sandbox/requests", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(admin, timeout=10) as response:
            received = json.load(response)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=10)
        console.close()
    yield {
        "token": token,
        "secrets": [token, netrc_secret, proxy_secret],
        "run": run,
        "home": home,
        "work": work,
        "received": received,
    }


def test_the_run_took_every_path(leak_run):
    received = leak_run["received"]
    kinds = [(r["endpoint"], r["status"], r["fault"]) for r in received["requests"]]
    assert ("status", 200, "degraded") in kinds  # the sensor deferred
    assert ("voice", 500, "500") in kinds  # delivery unknown
    assert ("sms", 401, "error:104") in kinds  # an API error naming the token problem
    assert sum(1 for endpoint, status, _ in kinds if endpoint == "sms" and status == 201) == 3
    assert sum(1 for endpoint, status, _ in kinds if endpoint == "voice" and status == 201) == 2
    assert any(r["auth"] == "ok" for r in received["requests"])
    output = leak_run["run"].stdout + leak_run["run"].stderr
    assert "DEBUG" in output.upper() and "Delivery unknown" in output
    assert "Taqnyat error 104" in output


def airflow_in_process_comms(line: str) -> bool:
    """
    Airflow 3's in-process test supervisor (``dag.test()`` / ``airflow dags test`` only) logs every
    request of the task at DEBUG, unmasked, including the ``MaskSecret`` that Airflow itself sends
    for each connection password it reads. Not this provider's line, and absent from deployments,
    whose supervisor logs "(body omitted)": ``make test-e2e`` checks that path at DEBUG.
    """
    return "Sending request" in line and "msg=MaskSecret(value=" in line and "supervisor.py" in line


def test_no_secret_in_the_run_output(leak_run):
    run = leak_run["run"]
    for secret in leak_run["secrets"]:
        lines = [line for line in (run.stdout + run.stderr).splitlines() if secret in line]
        ours = [
            line.replace(secret, "<SECRET>")[:300] for line in lines if not airflow_in_process_comms(line)
        ]
        assert ours == []


def test_token_not_in_any_log_file(leak_run):
    # `airflow dags test` prints task logs (checked above); Airflow 2 also writes them to files.
    files = [path for path in leak_run["home"].rglob("*") if path.is_file() and path.suffix != ".db"]
    assert any(path.name == "airflow.cfg" for path in files)
    for secret in leak_run["secrets"]:
        leaked = [str(path) for path in files if secret in path.read_text(errors="replace")]
        assert leaked == []


def test_token_not_in_the_database(leak_run):
    """XCom, rendered template fields, triggers and everything else the run stored."""
    database = leak_run["home"] / "airflow.db"
    connection = sqlite3.connect(database)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"xcom", "rendered_task_instance_fields"} <= set(tables)
        assert connection.execute("SELECT COUNT(*) FROM xcom").fetchone()[0] > 0
        assert connection.execute("SELECT COUNT(*) FROM rendered_task_instance_fields").fetchone()[0] > 0
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for secret in leak_run["secrets"]:
                    assert secret not in repr(row), f"a secret is stored in table {table}"
    finally:
        connection.close()


def test_token_not_in_the_sandbox_console(leak_run):
    console = (leak_run["work"] / "sandbox-console.log").read_text()
    assert "auth=ok" in console
    for secret in leak_run["secrets"]:
        assert secret not in console
    # The .netrc never replaced the Bearer token: no request came with other credentials.
    assert "auth=invalid" not in console


# --------------------------------------------------------------------------------------------------
# In process: exceptions and trigger serialization


@pytest.fixture
def token_connection(sandbox, monkeypatch, fast_retries):
    token = "tq-" + secrets.token_hex(24)
    monkeypatch.setattr(sandbox.state, "token", token)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        sandbox.connection_json(timeout=1, caller_id="966500000001", sender="Taqnyat.sa"),
    )
    return token


@pytest.mark.parametrize("fault", ["error:104", "500", "drop", "hang", "garbage", "empty", "429"])
def test_token_not_in_exceptions(sandbox, token_connection, fault):
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook

    sandbox.state.inject(fault, endpoint="sms", times=3, seconds=2)
    hook = TaqnyatHook()
    with pytest.raises(Exception) as raised:
        hook.send_sms("hi", ["966500000000"])
    rendered = (
        "".join(traceback.format_exception(raised.value)) + repr(raised.value) + str(vars(raised.value))
    )
    assert token_connection not in rendered
    assert f"Bearer {token_connection}" not in rendered


def test_token_not_in_trigger_serialization(token_connection):
    from taqnyat_provider.triggers.status import TaqnyatStatusTrigger

    classpath, kwargs = TaqnyatStatusTrigger(poll_interval=5, deadline=time.time() + 60).serialize()
    assert token_connection not in json.dumps(kwargs) + classpath
    assert set(kwargs) == {"taqnyat_conn_id", "poll_interval", "deadline"}
