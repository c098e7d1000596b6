"""
Provider metadata for Airflow's providers manager (entry point ``apache_airflow_provider``).

It is also the one definition of the connection form. Airflow 3 reads the form from here
(``conn-fields`` and ``ui-field-behaviour``) without importing the hook; Airflow 2.11 asks the hook
class, whose ``get_ui_field_behaviour`` and ``get_connection_form_widgets`` return
:func:`ui_field_behaviour` and :func:`connection_form_widgets`, built from the same fields below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from taqnyat_provider import __version__
from taqnyat_provider.core.connection_settings import CONN_TYPE, FIELD_LABELS

HIDDEN_FIELDS = ("login", "schema")
"""Hidden standard fields. ``extra`` stays: Airflow 3.3's form shows its JSON box for every type."""

RELABELING = {"password": FIELD_LABELS["password"], "host": f"{FIELD_LABELS['host']} (optional)"}
STANDARD_PLACEHOLDERS = {
    "password": "Token from Taqnyat: Developer > Application",
    "host": "https://api.taqnyat.sa",
    # Port is shown and asked for because Airflow 3.3's Test button sends `port: 0` for an empty
    # port and its API then refuses to test the stored connection (fixed upstream in
    # apache/airflow#73298). Any stored port passes that comparison; 443 is the real API's.
    "port": "443 (Airflow 3.3's Test button needs a port)",
}


@dataclass(frozen=True)
class ExtraField:
    """
    One field of the connection's Extra.

    ``example`` is what an empty field shows: the placeholder on Airflow 2; on Airflow 3.3, whose
    form has no placeholders for extra fields, the description ends with it. ``default`` is filled
    in on Airflow 3 (as the SMTP provider does for its timeout) and must mean what an absent key
    means, so that a saved default never changes behaviour.
    """

    name: str
    kind: Literal["number", "text", "switch"]
    description: str
    example: str | None = None
    default: Any = None

    @property
    def label(self) -> str:
        """As errors about the field name it (:data:`~taqnyat_provider.core.connection_settings.FIELD_LABELS`)."""
        return FIELD_LABELS[self.name]

    @property
    def help_text(self) -> str:
        return (
            f"{self.description} Example: {self.example}"
            if self.example and self.default is None
            else self.description
        )


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "timeout",
        "number",
        "Seconds to wait for each answer from Taqnyat. Default 30.",
        example="30",
        default=30,
    ),
    ExtraField(
        "caller_id",
        "text",
        "Optional. The voice caller ID, in international format without 00 or +.",
        example="966500000000",
    ),
    ExtraField(
        "sender",
        "text",
        "Optional. A sender name registered on the Taqnyat account.",
        example="MyBrand",
    ),
    ExtraField(
        "allow_insecure_tls",
        "switch",
        "Off (the default): the server's certificate is verified. Turn on only for a test server: "
        "without verification the token can be read by anyone in between.",
        default=False,
    ),
    ExtraField(
        "ca_bundle",
        "text",
        "Optional. A PEM file on the workers to verify the server's certificate with, instead of the "
        "system's certificate authorities.",
        example="/etc/ssl/certs/company-ca.pem",
    ),
    ExtraField(
        "proxies",
        "text",
        "Optional. JSON mapping schemes to proxy URLs, or one proxy URL for both.",
        example='{"https": "http://proxy.internal:3128"}',
    ),
    ExtraField(
        "trust_env",
        "switch",
        "Off (the default): only the proxies above are used. On: the worker's HTTPS_PROXY, NO_PROXY "
        "and REQUESTS_CA_BUNDLE apply too (to https hosts only); .netrc never does.",
        default=False,
    ),
)


def _conn_field(field: ExtraField) -> dict[str, Any]:
    """The Airflow 3 form's field: a JSON schema, rendered by the same form as DAG params."""
    json_type = {"number": "number", "text": "string", "switch": "boolean"}[field.kind]
    schema: dict[str, Any] = {"type": [json_type, "null"]}
    if field.kind == "number":
        schema["minimum"] = 1
    if field.default is not None:
        schema["default"] = field.default
    return {"label": field.label, "schema": schema, "description": field.help_text}


def _placeholders() -> dict[str, str]:
    extras = {f.name: f.example for f in EXTRA_FIELDS if f.example is not None}
    return {**STANDARD_PLACEHOLDERS, **extras}


def ui_field_behaviour() -> dict[str, Any]:
    """
    What ``TaqnyatHook.get_ui_field_behaviour()`` returns (Airflow 2.11 reads it from the hook class).

    A new dict on every call: Airflow 2.11 prefixes the extra fields' placeholder keys in place.
    """
    return {
        "hidden_fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": _placeholders(),
    }


def connection_form_widgets() -> dict[str, Any]:
    """
    What ``TaqnyatHook.get_connection_form_widgets()`` returns: the extra fields as WTForms fields.

    Airflow 2 only (its Flask AppBuilder form): the imports stay here, so neither the hook nor
    Airflow 3 needs WTForms. Timeout is a text field because Airflow 2 allows no decimal field.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for field in EXTRA_FIELDS:
        if field.kind == "switch":
            widgets[field.name] = BooleanField(
                lazy_gettext(field.label), default=bool(field.default), description=field.description
            )
        else:
            widgets[field.name] = StringField(
                lazy_gettext(field.label),
                widget=BS3TextFieldWidget(),
                validators=[Optional()],
                description=field.description,
            )
    return widgets


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
                "connection-type": CONN_TYPE,
                "ui-field-behaviour": {
                    "hidden-fields": list(HIDDEN_FIELDS),
                    "relabeling": dict(RELABELING),
                    "placeholders": _placeholders(),
                },
                "conn-fields": {field.name: _conn_field(field) for field in EXTRA_FIELDS},
            }
        ],
    }
