"""Sphinx configuration: built with warnings as errors by `make docs` (and so by `make test`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Autodoc imports the operators; Airflow must find a configuration without touching a real home.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / "docs" / "_build" / "airflow-home"))

from taqnyat_provider import __version__  # noqa: E402

project = "airflow-provider-taqnyat"
author = "airflow-provider-taqnyat contributors"
release = version = __version__
extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/README.md"]
html_theme = "alabaster"
html_title = f"Taqnyat provider for Apache Airflow {release}"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": True}
suppress_warnings = ["myst.header"]


def _write_error_table() -> None:
    """The error-code page's table, from the same catalog the exceptions and the sandbox use."""
    from taqnyat_provider.error_codes import CATALOG
    from taqnyat_provider.exceptions import API_ERRORS_BY_CODE

    rows = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 6 6 18 18 20 32",
        "",
        "   * - Code",
        "     - HTTP",
        "     - English",
        "     - Arabic",
        "     - Exception",
        "     - Cause and fix",
    ]
    for code, entry in sorted(CATALOG.items()):
        rows += [
            f"   * - {code}",
            f"     - {entry.http_status}",
            f"     - {entry.message_en}",
            f"     - {entry.message_ar}",
            f"     - :class:`~taqnyat_provider.exceptions.{API_ERRORS_BY_CODE[code].__name__}`",
            f"     - {entry.remedy}",
        ]
    generated = ROOT / "docs" / "_generated"
    generated.mkdir(exist_ok=True)
    (generated / "error_table.rst").write_text("\n".join(rows) + "\n", encoding="utf-8")


_write_error_table()
