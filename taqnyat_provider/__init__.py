"""Apache Airflow provider for Taqnyat (taqnyat.sa): voice calls, SMS and service status."""

from __future__ import annotations

# The only place the version is written: pyproject.toml reads it (setuptools' dynamic `attr`, parsed
# without importing), and so do the provider info, the HTTP User-Agent and the docs.
__version__ = "0.2.0"
