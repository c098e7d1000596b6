"""
Test set-up shared by every suite.

Airflow reads its configuration at import, so the throwaway AIRFLOW_HOME (SQLite) and dags folder
are set here, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="taqnyat-airflow-home-"))
DAGS_FOLDER = _AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "True",
    }
)
os.environ.pop("AIRFLOW_CONN_TAQNYAT_DEFAULT", None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database in the throwaway AIRFLOW_HOME."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture
def sandbox(taqnyat_sandbox):
    """The provider's public ``taqnyat_sandbox`` fixture, with a 2 s timeout so fault tests stay quick."""
    taqnyat_sandbox.connect(timeout=2, caller_id="966500000001", sender="Taqnyat.sa")
    return taqnyat_sandbox


@pytest.fixture
def fast_retries(monkeypatch):
    """Make the hooks' backoff near-instant, so retry tests measure counts, not sleep."""
    from taqnyat_provider.core import retry

    monkeypatch.setattr(
        retry,
        "DEFAULT_RETRY_POLICY",
        retry.RetryPolicy(backoff_seconds=0.01, max_retry_after_seconds=0.05),
    )


@pytest.fixture
def api_unreachable(monkeypatch):
    """Point ``taqnyat_default`` at a loopback port nobody listens on (connections refused)."""
    import json
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT",
        json.dumps(
            {
                "conn_type": "taqnyat",
                "host": f"http://127.0.0.1:{closed_port}",
                "password": "any-token",
                "extra": {"timeout": 1, "caller_id": "966500000001", "sender": "Taqnyat.sa"},
            }
        ),
    )
