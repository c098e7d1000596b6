"""The provider as Airflow's CLI sees it: registration and ``airflow connections test``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration


def airflow(*args: str, conn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_CONN_TAQNYAT_DEFAULT": conn, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_connection_test_through_the_cli(airflow_db, sandbox):
    good = airflow("connections", "test", "taqnyat_default", conn=sandbox.connection_json())
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Connection success!" in good.stdout
    assert [(r.method, r.endpoint, r.auth) for r in sandbox.received()] == [("GET", "balance", "ok")]
    wrong = json.dumps({"conn_type": "taqnyat", "host": sandbox.base_url, "password": "wrong-token"})
    bad = airflow("connections", "test", "taqnyat_default", conn=wrong)
    said = " ".join((bad.stdout + bad.stderr).split())
    assert "Connection failed!" in said
    assert "Taqnyat error 104" in said
    assert "the connection's Bearer token field" in said
    assert [r.method for r in sandbox.received()] == ["GET", "GET"]
    assert sandbox.token not in good.stdout + good.stderr


def test_uri_form_with_http_schema(airflow_db, sandbox):
    uri = f"taqnyat://:{sandbox.token}@127.0.0.1:{urlsplit(sandbox.base_url).port}/http"
    result = airflow("connections", "test", "taqnyat_default", conn=uri)
    assert "Connection success!" in result.stdout, result.stdout + result.stderr
    assert sandbox.received("balance")[0].auth == "ok"


def test_provider_is_listed(airflow_db):
    result = airflow("providers", "list", conn="{}")
    assert "airflow-provider-taqnyat" in result.stdout
