"""
What docs/architecture.rst says about the package's folders and its endpoints, checked on the code.

- No module imports upwards: the core imports only the core; the hooks import no operator, sensor,
  trigger, notifier or ledger store.
- One module per endpoint, and a new read endpoint touches four package files: its module, one
  line in each hook, a route in the sandbox. So every endpoint module's calls are offered by both
  hooks, and every path it names is routed by the sandbox.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import taqnyat_provider
from taqnyat_provider.sandbox.app import ROUTES

PACKAGE = Path(taqnyat_provider.__file__).parent
ENDPOINTS = sorted(
    path.stem for path in (PACKAGE / "core" / "endpoints").glob("*.py") if path.stem != "__init__"
)
HOOKS = {name: (PACKAGE / "hooks" / f"{name}.py").read_text() for name in ("taqnyat", "taqnyat_async")}
ABOVE_THE_HOOKS = ("operators", "sensors", "triggers", "notifications", "ledger_stores", "airflow_errors")


def provider_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("taqnyat_provider"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("taqnyat_provider"))
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=lambda p: p.name)
def test_the_core_imports_only_the_core(path):
    assert {name for name in provider_imports(path) if not name.startswith("taqnyat_provider.core")} == set()


@pytest.mark.parametrize("path", sorted((PACKAGE / "hooks").glob("*.py")), ids=lambda p: p.name)
def test_the_hooks_import_nothing_above_them(path):
    above = {
        name
        for name in provider_imports(path)
        if any(name.startswith(f"taqnyat_provider.{layer}") for layer in ABOVE_THE_HOOKS)
    }
    assert above == set()


def test_the_endpoints_are_the_five_the_docs_name():
    assert ENDPOINTS == ["account", "sms", "sms_delete", "status", "voice"]
    docs = (PACKAGE.parent / "docs" / "architecture.rst").read_text()
    assert "status.py account.py voice.py sms.py sms_delete.py" in docs
    assert "A new read endpoint touches four package files" in docs


def calls_as_steps(module) -> list[str]:
    """The module's public functions that return steps: the calls a hook drives."""
    return [
        name
        for name, value in vars(module).items()
        if callable(value)
        and getattr(value, "__module__", None) == module.__name__
        and not name.startswith("_")
        and str(getattr(value, "__annotations__", {}).get("return", "")).startswith("Steps[")
    ]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_is_offered_by_both_hooks(endpoint):
    module = importlib.import_module(f"taqnyat_provider.core.endpoints.{endpoint}")
    steps = calls_as_steps(module)
    messages = [name for name in ("VoiceCall", "SmsMessage") if name in vars(module)]
    assert steps or messages  # a read has its calls as steps, a send its message
    for hook, source in HOOKS.items():
        for call in steps:
            assert f"{endpoint}.{call}(" in source, (hook, call)
        for message in messages:
            assert f"{message}(" in source, (hook, message)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_path_an_endpoint_names_is_routed_by_the_sandbox(endpoint):
    source = (PACKAGE / "core" / "endpoints" / f"{endpoint}.py").read_text()
    paths = re.findall(r'^[A-Z_]*ENDPOINT = "([^"]+)"', source, re.MULTILINE)
    assert paths
    routed = {path.strip("/") for _, path in ROUTES}
    for path in paths:
        assert path.strip("/") in routed, path
