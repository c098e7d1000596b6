"""Apache Airflow provider for Taqnyat (taqnyat.sa): voice calls, SMS and service status."""

from __future__ import annotations

__version__ = "0.1.0"
