"""
The connection form as the installed Airflow shows it, read through Airflow itself.

Airflow 2.11 builds its form from the hook class (``airflow providers behaviours`` / ``widgets``);
Airflow 3 from the provider info's ``conn-fields`` and ``ui-field-behaviour``, served to the UI
by ``GET /ui/connections/hook_meta``. Both come from one definition in
``taqnyat_provider.get_provider_info``, so the same expectations hold on both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from taqnyat_provider.version_compat import AIRFLOW_V_3_0_PLUS

LABELS = {
    "timeout": "Timeout (seconds)",
    "caller_id": "Default caller ID",
    "sender": "Default SMS sender",
    "allow_insecure_tls": "Allow insecure TLS (skip certificate verification)",
    "ca_bundle": "CA bundle path",
    "proxies": "Proxies",
    "trust_env": "Use proxy and CA settings from the worker's environment",
}
EXAMPLES = {
    "timeout": "30",
    "caller_id": "966500000000",
    "sender": "MyBrand",
    "ca_bundle": "/etc/ssl/certs/company-ca.pem",
    "proxies": '{"https": "http://proxy.internal:3128"}',
}
SWITCHES = {"allow_insecure_tls", "trust_env"}


@dataclass
class Field:
    label: str
    kind: str
    description: str
    default: Any
    hint: str | None  # what the empty field shows: a placeholder (2.11) or the description's example (3.x)


@dataclass
class Form:
    hidden: set[str]
    labels: dict[str, str]
    placeholders: dict[str, str]
    extras: dict[str, Field]


def providers_cli(command: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", command, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return json.loads(result.stdout)


def form_airflow_2() -> Form:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    behaviour = manager.field_behaviours["taqnyat"]
    placeholders = behaviour["placeholders"]
    extras = {}
    for key, widget in manager.connection_form_widgets.items():
        if key.startswith("extra__taqnyat__"):
            unbound = widget.field
            extras[widget.field_name] = Field(
                label=str(unbound.args[0]),
                kind=unbound.field_class.__name__,
                description=unbound.kwargs.get("description", ""),
                default=unbound.kwargs.get("default"),
                hint=placeholders.get(key),
            )
    return Form(
        hidden=set(behaviour["hidden_fields"]),
        labels=behaviour["relabeling"],
        placeholders={k: v for k, v in placeholders.items() if not k.startswith("extra__")},
        extras=extras,
    )


def form_airflow_3() -> Form:
    # What GET /ui/connections/hook_meta answers: the React form renders exactly this.
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    [meta] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "taqnyat"]
    assert meta.hook_name == "Taqnyat"
    standard = meta.standard_fields.model_dump(by_alias=False) if meta.standard_fields else {}
    standard["schema"] = standard.pop("url_schema")
    extras = {}
    for name, param in (meta.extra_fields or {}).items():
        description = param["description"] or ""
        example = EXAMPLES.get(name)
        extras[name] = Field(
            label=param["schema"]["title"],
            kind=next(t for t in param["schema"]["type"] if t != "null"),
            description=description,
            default=param["value"],
            hint=example if example and example in description else None,
        )
    return Form(
        hidden={name for name, field in standard.items() if field and field["hidden"]},
        labels={name: field["title"] for name, field in standard.items() if field and field["title"]},
        placeholders={
            name: field["placeholder"] for name, field in standard.items() if field and field["placeholder"]
        },
        extras=extras,
    )


def test_airflow_lists_the_form_in_its_cli():
    assert {"field_behaviours": "taqnyat"} in providers_cli("behaviours")
    widgets = {
        row["connection_parameter_name"]: row["field_type"]
        for row in providers_cli("widgets")
        if row["connection_parameter_name"].startswith("extra__taqnyat__")
    }
    if AIRFLOW_V_3_0_PLUS:
        kinds = {"timeout": ["number", "null"], "allow_insecure_tls": ["boolean", "null"]}
        text = ["string", "null"]
    else:
        kinds = {"timeout": "StringField", "allow_insecure_tls": "BooleanField"}
        text = "StringField"
    kinds["trust_env"] = kinds["allow_insecure_tls"]
    assert widgets == {f"extra__taqnyat__{name}": kinds.get(name, text) for name in LABELS}


def test_standard_fields_token_url_and_port():
    form = form_airflow_3() if AIRFLOW_V_3_0_PLUS else form_airflow_2()
    # Port is shown: Airflow 3.3's Test button refuses a connection without one.
    assert form.hidden == {"login", "schema"}
    assert form.labels == {"password": "Bearer token", "host": "API base URL (optional)"}
    assert form.placeholders["host"] == "https://api.taqnyat.sa"
    assert form.placeholders["port"].startswith("443 ")
    assert "Developer > Application" in form.placeholders["password"]


def test_extra_fields_labels_hints_and_safe_switches():
    form = form_airflow_3() if AIRFLOW_V_3_0_PLUS else form_airflow_2()
    assert {name: field.label for name, field in form.extras.items()} == LABELS
    for name, example in EXAMPLES.items():
        if AIRFLOW_V_3_0_PLUS and name == "timeout":
            # Airflow 3.3 has no placeholder for a number field: the default is filled in instead.
            assert form.extras[name].default == 30
        else:
            assert form.extras[name].hint == example, name
    for name in SWITCHES:
        field = form.extras[name]
        assert field.kind == ("boolean" if AIRFLOW_V_3_0_PLUS else "BooleanField")
        # Off is the safe state and the state a new connection starts in.
        assert field.default is False
        assert field.description.startswith("Off (the default)")
    for name, field in form.extras.items():
        if name not in SWITCHES and name != "timeout":
            assert field.default is None, name
            assert field.description.startswith("Optional."), name
