"""Provider metadata, the connection form and parse-time import cost."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib.metadata import entry_points

from taqnyat_provider.core.connection_settings import settings_from_connection
from taqnyat_provider.get_provider_info import get_provider_info, ui_field_behaviour
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


EXTRA_NAMES = ["timeout", "caller_id", "sender", "allow_insecure_tls", "ca_bundle", "proxies", "trust_env"]


def test_connection_form_is_data():
    [conn_type] = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == "taqnyat" == TaqnyatHook.conn_type
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "Bearer token"
    assert list(conn_type["conn-fields"]) == EXTRA_NAMES
    json.dumps(get_provider_info())


def test_one_definition_serves_both_airflow_versions():
    [conn_type] = get_provider_info()["connection-types"]
    declared = conn_type["ui-field-behaviour"]
    behaviour = ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": declared["hidden-fields"],
        "relabeling": declared["relabeling"],
        "placeholders": declared["placeholders"],
    }
    # Port is shown (Airflow 3.3's Test button needs one), and so is Extra (3.3 always shows it).
    assert behaviour["hidden_fields"] == ["login", "schema"]
    assert behaviour["placeholders"]["port"].startswith("443")
    # Airflow 2.11 rewrites the placeholder keys in place: every call returns a new dict.
    behaviour["placeholders"].clear()
    assert ui_field_behaviour()["placeholders"]["caller_id"] == "966500000000"
    # Airflow 2.11 reads both from the hook class itself, not from a base class.
    assert "get_ui_field_behaviour" in TaqnyatHook.__dict__
    assert "get_connection_form_widgets" in TaqnyatHook.__dict__
    assert TaqnyatHook.get_ui_field_behaviour() == ui_field_behaviour()


def test_every_hint_shows_on_airflow_3():
    # Airflow 3.3's form has no placeholders for extra fields: an example sits in the description
    # (shown under the field), a default is filled in.
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    examples = {"caller_id": "966500000000", "sender": "MyBrand", "proxies": "proxy.internal:3128"}
    for name, example in examples.items():
        assert example in fields[name]["description"]
    assert fields["ca_bundle"]["description"].endswith(".pem")
    assert fields["timeout"]["schema"]["default"] == 30
    assert fields["allow_insecure_tls"]["label"] == "Allow insecure TLS (skip certificate verification)"
    for switch in ("allow_insecure_tls", "trust_env"):
        assert fields[switch]["schema"] == {"type": ["boolean", "null"], "default": False}


def test_a_new_connection_saved_from_the_form_means_the_defaults():
    # What Airflow 3.3's form saves when nothing is typed: every field, defaults or null. It must
    # mean exactly what an empty Extra means, so TLS is verified and nothing else changes.
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    saved = {name: field["schema"].get("default") for name, field in fields.items()}
    kwargs = {"host": None, "schema": None, "port": None, "password": "token"}
    assert settings_from_connection(**kwargs, extra=saved) == settings_from_connection(**kwargs, extra={})
    assert settings_from_connection(**kwargs, extra=saved).verify is True


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
