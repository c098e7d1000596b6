"""Provider metadata for Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from taqnyat_provider import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-taqnyat",
        "name": "Taqnyat",
        "description": "`Taqnyat <https://www.taqnyat.sa/>`__: SMS, voice calls and service status.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Taqnyat",
                "external-doc-url": "https://dev.taqnyat.sa/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Taqnyat", "python-modules": ["taqnyat_provider.hooks.taqnyat"]}],
        "operators": [
            {
                "integration-name": "Taqnyat",
                "python-modules": ["taqnyat_provider.operators.voice", "taqnyat_provider.operators.sms"],
            }
        ],
        "sensors": [{"integration-name": "Taqnyat", "python-modules": ["taqnyat_provider.sensors.status"]}],
        "triggers": [{"integration-name": "Taqnyat", "python-modules": ["taqnyat_provider.triggers.status"]}],
        "notifications": [
            "taqnyat_provider.notifications.voice.TaqnyatVoiceNotifier",
            "taqnyat_provider.notifications.sms.TaqnyatSmsNotifier",
        ],
        "connection-types": [
            {
                "hook-class-name": "taqnyat_provider.hooks.taqnyat.TaqnyatHook",
                "hook-name": "Taqnyat",
                "connection-type": "taqnyat",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port", "extra"],
                    "relabeling": {"password": "Bearer token", "host": "API base URL (optional)"},
                    "placeholders": {
                        "host": "https://api.taqnyat.sa",
                        "password": "Bearer token from Taqnyat: Developer > Application",
                        "timeout": "30",
                        "caller_id": "966500000000",
                        "sender": "MyBrand",
                        "proxies": '{"https": "http://proxy.internal:3128"}',
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                        "description": "Optional. Seconds to wait for each answer (default 30).",
                    },
                    "caller_id": {
                        "label": "Default caller ID",
                        "schema": {"type": ["string", "null"]},
                        "description": "Optional. Voice caller ID in international format without 00 or +.",
                    },
                    "sender": {
                        "label": "Default SMS sender",
                        "schema": {"type": ["string", "null"]},
                        "description": "Optional. An active sender name of the Taqnyat account.",
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "schema": {"type": ["boolean", "null"]},
                        "description": "Optional. Verify the server's TLS certificate (default on).",
                    },
                    "proxies": {
                        "label": "Proxies",
                        "schema": {"type": ["string", "null"]},
                        "description": 'Optional. JSON mapping schemes to proxy URLs, e.g. {"https": "http://proxy:3128"}.',
                    },
                },
            }
        ],
    }
