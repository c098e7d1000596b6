"""The pure core and the sandbox import no Airflow (and the core no HTTP library)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "taqnyat_provider.core.endpoints.status",
    "taqnyat_provider.core.audio_check",
    "taqnyat_provider.core.lateness",
    "taqnyat_provider.core.quiet_hours",
    "taqnyat_provider.core.delivery",
    "taqnyat_provider.core.dry_run",
    "taqnyat_provider.core.error_codes",
    "taqnyat_provider.exceptions",
    "taqnyat_provider.core.ledger",
    "taqnyat_provider.core.sending",
    "taqnyat_provider.core.recipients",
    "taqnyat_provider.core.wire",
    "taqnyat_provider.core.retry",
    "taqnyat_provider.core.sms_text",
    "taqnyat_provider.core.steps",
    "taqnyat_provider.core.connection_settings",
    "taqnyat_provider.hooks.network_route",
]


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(output.split())


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_neither_airflow_nor_an_http_library(module):
    loaded = loaded_after_import(module)
    assert not {m for m in loaded if m.split(".")[0] in ("airflow", "requests", "aiohttp", "urllib3")}


@pytest.mark.parametrize(
    "module",
    ["taqnyat_provider.sandbox.server", "taqnyat_provider.sandbox.__main__", "taqnyat_provider.testing"],
)
def test_the_sandbox_and_the_pytest_plugin_import_no_airflow(module):
    loaded = loaded_after_import(module)
    assert not {m for m in loaded if m.split(".")[0] == "airflow"}
