"""Sphinx configuration: built with warnings as errors by `make docs` (and so by `make test`)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

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
# _generated/ holds files that pages include, not pages of their own.
exclude_patterns = ["_build", "_generated"]
html_theme = "alabaster"
html_title = f"Taqnyat provider for Apache Airflow {release}"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False
autodoc_typehints = "none"
# No default "members": Sphinx 9 lets a default of True override a directive's own member list, and
# the API page lists every class's members itself.
autodoc_default_options = {"show-inheritance": True}
suppress_warnings = ["myst.header"]

# --------------------------------------------------------------------------------------------------
# The API page documents public names only: the names it lists are the public API, and
# * a class shows its own members and those of the provider's classes it inherits from, never
#   Airflow's (those are Airflow's API, documented there);
# * a base class of the provider that is not on the page (the hooks' shared calls, say) is left
#   out of "Bases:", its members being shown on the subclass;
# * every exception class of taqnyat_provider.exceptions is listed (generated), and nothing else of
#   that module;
# * a documented name with an underscore-prefixed part fails the build (warnings are errors).

_API_PAGE = Path(__file__).with_name("api.rst")
_DIRECTIVE = re.compile(r"^\.\. auto(?:class|data|function|exception)::\s+(\S+)", re.MULTILINE)
_MEMBERS = re.compile(r"^\.\. automodule::\s+(\S+)\n\s+:members:\s+(.+)$", re.MULTILINE)


def _exception_classes() -> list[type]:
    from taqnyat_provider import exceptions

    return [
        value
        for value in vars(exceptions).values()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__name__ in exceptions.__all__
        and not value.__name__.startswith("_")
    ]


def _public_names() -> set[str]:
    text = _API_PAGE.read_text(encoding="utf-8")
    names = set(_DIRECTIVE.findall(text))
    for module, members in _MEMBERS.findall(text):
        names |= {f"{module}.{member.strip()}" for member in members.split(",")}
    return names | {f"{error.__module__}.{error.__qualname__}" for error in _exception_classes()}


def _defining_module(member: Any) -> str | None:
    """Where a method, property or nested class was written (None for plain values)."""
    # A property's or cached_property's own __module__ is its class's (builtins, functools).
    for candidate in (getattr(member, "fget", None), getattr(member, "func", None), member):
        module = getattr(candidate, "__module__", None)
        if isinstance(module, str):
            return module
    return None


def _skip_member(app: Any, what: str, name: str, member: Any, skip: bool, options: Any) -> bool | None:
    if what in ("class", "exception"):
        module = _defining_module(member)
        if module is not None and not module.startswith("taqnyat_provider"):
            return True  # inherited from Airflow, requests or Python
    return None


def _keep_public_bases(app: Any, name: str, obj: type, options: Any, bases: list[type]) -> None:
    public = _public_names()
    bases[:] = [
        base
        for base in bases
        if not base.__module__.startswith("taqnyat_provider")
        or f"{base.__module__}.{base.__qualname__}" in public
    ]


def _no_private_names(app: Any, env: Any) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for name, entry in env.get_domain("py").objects.items():
        if any(part.startswith("_") and not part.endswith("__") for part in name.split(".")):
            logger.warning("the API page documents the private name %s", name, location=entry.docname)


def _write_exception_list() -> None:
    """Every exception class the provider raises, in the order the module defines them."""
    lines = []
    for error in _exception_classes():
        lines += [f".. autoexception:: {error.__module__}.{error.__qualname__}", "   :members:", ""]
    generated = ROOT / "docs" / "_generated"
    generated.mkdir(exist_ok=True)
    (generated / "exceptions.rst").write_text("\n".join(lines), encoding="utf-8")


def setup(app: Any) -> None:
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-bases", _keep_public_bases)
    app.connect("env-check-consistency", _no_private_names)


def _write_error_table() -> None:
    """The error-code page's table, from the same catalog the exceptions and the sandbox use."""
    from taqnyat_provider.core.error_codes import CATALOG
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
_write_exception_list()
