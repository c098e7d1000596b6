"""The sandbox's defaults, as the README and the docs tell them: a port no Airflow component takes."""

from __future__ import annotations

from pathlib import Path

from taqnyat_provider.sandbox.__main__ import DEFAULT_PORT, main
from taqnyat_provider.sandbox.state import DEFAULT_TOKEN

ROOT = Path(__file__).resolve().parents[2]

# (section, key) of every port an Airflow component listens on by default, on 3.x and 2.11.
AIRFLOW_PORTS = [
    ("api", "port"),  # Airflow 3's api-server
    ("webserver", "web_server_port"),  # Airflow 2's webserver
    ("celery", "flower_port"),
    ("logging", "worker_log_server_port"),
    ("logging", "trigger_log_server_port"),
    ("scheduler", "scheduler_health_check_server_port"),
    ("metrics", "statsd_port"),
]


def test_the_default_port_is_no_airflow_components_default():
    from airflow.configuration import conf

    taken = {}
    for section, key in AIRFLOW_PORTS:
        value = conf.get_default_value(section, key)
        if value is not None:  # a key this Airflow version does not have
            taken[f"{section}.{key}"] = int(value)
    # On 2.11 Flower's setting belongs to the celery provider, which may not be installed.
    taken.setdefault("celery.flower_port", 5555)
    assert {"logging.worker_log_server_port", "scheduler.scheduler_health_check_server_port"} <= set(taken)
    assert 8080 in taken.values()  # the clash this default avoids is really there
    assert DEFAULT_PORT not in taken.values(), taken


def test_the_cli_listens_on_the_default_port_by_default(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--help"])
    assert f"(default {DEFAULT_PORT})" in capsys.readouterr().out


def test_readme_and_docs_tell_the_same_port_and_token():
    readme = (ROOT / "README.md").read_text()
    testing = (ROOT / "docs" / "testing.rst").read_text()
    uri = f"taqnyat://:{DEFAULT_TOKEN}@127.0.0.1:{DEFAULT_PORT}/http"
    assert uri in readme
    assert uri in (ROOT / "docs" / "quickstart.rst").read_text()
    for text in (readme, testing):
        assert f"127.0.0.1:{DEFAULT_PORT}" in text
        assert f"``{DEFAULT_TOKEN}``" in text or f"`{DEFAULT_TOKEN}`" in text
        assert "TAQNYAT_SANDBOX_TOKEN" in text
        assert "8080" not in text.replace("use 8080", "")  # no old default left in an example
