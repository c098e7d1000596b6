"""Apache Airflow provider for Taqnyat (taqnyat.sa): voice calls, SMS and service status."""

from __future__ import annotations

# The only place the version is written: pyproject.toml reads it (setuptools' dynamic `attr`, parsed
# without importing), and so do the provider info, the HTTP User-Agent and the docs.
__version__ = "0.2.0"

import sys as _sys

from taqnyat_provider._moved import MovedModules as _MovedModules

# 0.2.0's module paths (taqnyat_provider.messages, .delivery, ...) resolve to their new homes.
if not any(getattr(finder, "taqnyat_moved", False) for finder in _sys.meta_path):
    _sys.meta_path.append(_MovedModules())
