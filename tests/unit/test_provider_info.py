"""Provider metadata, the connection form and parse-time import cost."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import entry_points

from taqnyat_provider.get_provider_info import get_provider_info
from taqnyat_provider.hooks.taqnyat import TaqnyatAsyncHook, TaqnyatHook


def test_entry_point_is_registered():
    [entry] = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("taqnyat_provider")
    ]
    assert entry.load() is get_provider_info


def test_every_listed_module_and_class_imports():
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-taqnyat"
    for section in ("hooks", "operators", "sensors", "triggers"):
        for group in info[section]:
            for module in group["python-modules"]:
                importlib.import_module(module)
    for path in [*info["notifications"], info["connection-types"][0]["hook-class-name"]]:
        module, _, name = path.rpartition(".")
        getattr(importlib.import_module(module), name)


def test_connection_form_is_data():
    [conn_type] = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == "taqnyat" == TaqnyatHook.conn_type
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "Bearer token"
    assert set(conn_type["conn-fields"]) == {"timeout", "caller_id", "sender", "verify", "proxies"}
    json.dumps(get_provider_info())


def test_hook_identity():
    for hook in (TaqnyatHook, TaqnyatAsyncHook):
        assert hook.conn_name_attr == "taqnyat_conn_id"
        assert hook.default_conn_name == "taqnyat_default"
        assert hook.hook_name == "Taqnyat"


def test_importing_dag_facing_modules_stays_light():
    # DAG files import these on every parse: no HTTP stack, no phonenumbers, no hook at import.
    code = (
        "import sys\n"
        "from airflow.providers.common.compat.sdk import DAG, BaseOperator, BaseSensorOperator, BaseNotifier\n"
        "before = set(sys.modules)\n"
        "import taqnyat_provider.operators.voice, taqnyat_provider.sensors.status, "
        "taqnyat_provider.notifications.voice, taqnyat_provider.operators.sms, "
        "taqnyat_provider.notifications.sms\n"
        "loaded = set(sys.modules) - before\n"
        "heavy = sorted(m for m in loaded if m.split('.')[0] in {'requests', 'aiohttp', 'phonenumbers', 'urllib3'}"
        " or m in {'taqnyat_provider.hooks.taqnyat', 'airflow.providers.http.hooks.http'})\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
