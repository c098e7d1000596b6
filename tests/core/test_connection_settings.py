from __future__ import annotations

import pytest

from taqnyat_provider.core.connection_settings import (
    DEFAULT_BASE_URL,
    EXTRA_NAMES,
    FIELD_LABELS,
    build_base_url,
    is_loopback_host,
    settings_from_connection,
)
from taqnyat_provider.exceptions import TaqnyatConfigurationError


def settings(**overrides):
    fields = {"host": None, "schema": None, "port": None, "password": "tok", "extra": {}}
    fields.update(overrides)
    return settings_from_connection(**fields)


def refused(match: str, **overrides) -> str:
    """The error a setting fails with (it must match ``match``), as a person reads it."""
    with pytest.raises(TaqnyatConfigurationError, match=match) as raised:
        settings(**overrides)
    return str(raised.value)


def test_defaults():
    s = settings()
    assert s.base_url == DEFAULT_BASE_URL == "https://api.taqnyat.sa"
    assert s.timeout == 30.0
    assert s.verify is True
    assert s.proxies == {}
    assert s.trust_env is False
    assert s.warnings == ()
    assert s.url("/voiceSend.php/") == "https://api.taqnyat.sa/voiceSend.php/"


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("http://127.0.0.1:8080", None, None, "http://127.0.0.1:8080"),
        ("http://localhost:9", None, None, "http://localhost:9"),
        ("http://LOCALHOST:9", None, None, "http://localhost:9"),
        ("http://[::1]:9", None, None, "http://[::1]:9"),
        ("http://127.5.5.5", None, None, "http://127.5.5.5"),
        ("127.0.0.1", "http", 8080, "http://127.0.0.1:8080"),
        ("api.taqnyat.sa", None, None, "https://api.taqnyat.sa"),
        ("https://api.taqnyat.sa/", None, None, "https://api.taqnyat.sa"),
        ("https://proxy.example.com/taqnyat", None, 8443, "https://proxy.example.com:8443/taqnyat"),
        ("https://api.taqnyat.sa:443", None, None, "https://api.taqnyat.sa"),  # the scheme's own port
        (None, None, 443, "https://api.taqnyat.sa"),  # Airflow 3.3's form asks for a port
        (None, None, 0, "https://api.taqnyat.sa"),  # ... and sends 0 for an empty one
        ("api.taqnyat.sa", None, "", "https://api.taqnyat.sa"),
        ("api.taqnyat.sa", None, "8443", "https://api.taqnyat.sa:8443"),
        (" https://api.taqnyat.sa \n", None, None, "https://api.taqnyat.sa"),
    ],
)
def test_base_urls(host, schema, port, expected):
    assert build_base_url(host, schema, port) == expected


@pytest.mark.parametrize(
    "host",
    ["http://api.taqnyat.sa", "http://10.0.0.5:8080", "http://example.com", "http://localhost.example.com"],
)
def test_plain_http_refused_off_loopback(host):
    with pytest.raises(TaqnyatConfigurationError, match="clear text"):
        build_base_url(host)


@pytest.mark.parametrize("host", ["http://foo.localhost:8080", "http://localhost.:8080", "http://127.1:8080"])
def test_only_localhost_itself_and_literal_loopback_addresses_are_loopback(host):
    # *.localhost resolves wherever the resolver says; "127.1" is loopback only to some parsers.
    with pytest.raises(TaqnyatConfigurationError, match="clear text"):
        build_base_url(host)


@pytest.mark.parametrize(
    ("hostname", "loopback"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("foo.localhost", False),
        ("localhost.", False),
        ("localhost.localdomain", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(hostname, loopback):
    assert is_loopback_host(hostname) is loopback


@pytest.mark.parametrize(
    ("host", "match"),
    [
        ("ftp://api.taqnyat.sa", "not an http"),
        ("https://user:pw@api.taqnyat.sa", "credentials"),
        ("https://api.taqnyat.sa/?x=1", "query"),
        ("https://api.taqnyat.sa/#top", "fragment"),
        ("https://exa mple.com", "space or a control character"),
        ("https://api.taqnyat.sa\r\nX-Evil: 1", "space or a control character"),
        ("https://ex!ample.com", "invalid host name"),
        ("https://api.taqnyat.sa:99999", "port that is not a number from 1 to 65535"),
        ("https://api.taqnyat.sa:abc", "port that is not a number from 1 to 65535"),
        ("https://api.taqnyat.sa:0", "port that is not a number from 1 to 65535"),
    ],
)
def test_bad_hosts_name_the_field_and_the_value(host, match):
    message = refused(match, host=host)
    assert "API base URL" in message


def test_a_bad_host_does_not_echo_credentials():
    message = refused("credentials", host="https://user:s3cr3t@api.taqnyat.sa")
    assert "s3cr3t" not in message


@pytest.mark.parametrize("port", [-1, 65536, "99999", "abc", "44 3", "٤٤٣", True, 443.0, [443]])
def test_bad_port_named(port):
    message = refused("Port must be a whole number from 1 to 65535 or empty", port=port)
    assert repr(port)[:20] in message


def test_a_port_that_the_urls_own_port_overrides_is_a_warning():
    s = settings(host="http://127.0.0.1:8080", port=443)
    assert s.base_url == "http://127.0.0.1:8080"
    assert s.warnings == ("The taqnyat connection's Port 443 is not used: its API base URL names port 8080",)


def test_schema_other_than_http_refused():
    refused("schema 'ftp' is not http or https", host="api.taqnyat.sa", schema="ftp")


# --------------------------------------------------------------------------------------------------
# Extras


def test_extras():
    s = settings(
        extra={
            "timeout": "5",
            "caller_id": " +966 50 000 0001 ",
            "sender": "Brand",
            "proxies": '{"https": "http://proxy:3128"}',
            "trust_env": True,
        }
    )
    assert s.timeout == 5.0
    assert s.caller_id == "966500000001"  # checked and normalized once, here
    assert s.sender == "Brand"
    assert s.proxies == {"https": "http://proxy:3128"}
    assert s.trust_env is True
    assert s.warnings == ()


def test_what_the_airflow_3_form_saves_for_an_untouched_connection_means_the_defaults():
    saved = {
        "timeout": 30,
        "caller_id": None,
        "sender": None,
        "allow_insecure_tls": False,
        "ca_bundle": None,
        "proxies": None,
        "trust_env": False,
    }
    assert settings(extra=saved) == settings(extra={})


def test_airflow_2_prefixed_extras_are_read():
    s = settings(extra={"extra__taqnyat__timeout": "7", "extra__taqnyat__sender": "Brand"})
    assert (s.timeout, s.sender, s.warnings) == (7.0, "Brand", ())


@pytest.mark.parametrize("timeout", ["0", "-1", "abc", "nan", "inf", [1], True, False, {"s": 1}])
def test_bad_timeout_named(timeout):
    message = refused(
        "Timeout \\(seconds\\) \\('timeout' extra\\) must be a positive number", extra={"timeout": timeout}
    )
    assert repr(timeout) in message


@pytest.mark.parametrize("timeout", [None, ""])
def test_empty_timeout_is_the_default(timeout):
    assert settings(extra={"timeout": timeout}).timeout == 30.0


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (
            {"caller_id": "CALLCENTER"},
            "Default caller ID \\('caller_id' extra\\) is not a valid phone number",
        ),
        ({"caller_id": "966500000001\r\nX-Evil: 1"}, "line break"),
        ({"caller_id": ["966500000001"]}, "Default caller ID"),
        ({"sender": "MyVeryLongBrand"}, "Default SMS sender \\('sender' extra\\) is not a valid sender name"),
        ({"sender": "Brand\r\nX-Evil: 1"}, "Default SMS sender"),
        ({"sender": 5}, "Default SMS sender"),
    ],
)
def test_default_caller_id_and_sender_are_checked_up_front(extra, match):
    refused(match, extra=extra)


def test_unicode_digits_in_the_default_caller_id():
    assert settings(extra={"caller_id": "٩٦٦٥٠٠٠٠٠٠٠١"}).caller_id == "966500000001"


def test_unknown_extras_are_a_warning_by_name():
    s = settings(extra={"verfiy": False, "timeout": 5})
    assert len(s.warnings) == 1
    assert "'verfiy'" in s.warnings[0]
    assert s.verify is True  # a typo never turns verification off


def test_extra_that_is_not_an_object_refused():
    refused("Extra must be a JSON object", extra=["timeout", 5])


# --------------------------------------------------------------------------------------------------
# TLS


@pytest.mark.parametrize(
    ("extra", "verify"),
    [
        ({}, True),
        ({"verify": None}, True),
        ({"verify": ""}, True),
        ({"allow_insecure_tls": None}, True),
        ({"allow_insecure_tls": False}, True),
        ({"allow_insecure_tls": "false"}, True),
        ({"verify": True}, True),
        ({"verify": "true"}, True),
        ({"verify": "/etc/ssl/ca.pem"}, "/etc/ssl/ca.pem"),
        ({"verify": "company-ca.CRT"}, "company-ca.CRT"),
        ({"verify": "C:\\certs\\ca"}, "C:\\certs\\ca"),
        ({"ca_bundle": "/etc/ssl/certs/company-ca.pem"}, "/etc/ssl/certs/company-ca.pem"),
        ({"ca_bundle": "/etc/ssl/ca.pem", "verify": "/etc/ssl/ca.pem"}, "/etc/ssl/ca.pem"),
        ({"ca_bundle": "/etc/ssl/ca.pem", "verify": True}, "/etc/ssl/ca.pem"),
        ({"ca_bundle": "/etc/ssl/ca.pem", "allow_insecure_tls": False}, "/etc/ssl/ca.pem"),
    ],
)
def test_certificates_are_verified(extra, verify):
    s = settings(extra=extra)
    assert s.verify == verify
    assert s.warnings == ()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"allow_insecure_tls": True}, "'allow_insecure_tls' extra"),
        ({"allow_insecure_tls": "yes"}, "'allow_insecure_tls' extra"),
        ({"verify": False}, "'verify' extra"),
        ({"verify": "false"}, "'verify' extra"),
        ({"verify": 0}, "'verify' extra"),
        ({"allow_insecure_tls": True, "verify": False}, "'allow_insecure_tls' extra"),
    ],
)
def test_insecure_tls_is_off_with_a_warning_at_every_use(extra, field):
    s = settings(extra=extra)
    assert s.verify is False
    (warning,) = s.warnings
    assert "NOT verified for https://api.taqnyat.sa" in warning
    assert field in warning


@pytest.mark.parametrize("verify", ["ture", "yes please", "ca", 2, 1.5, ["x"]])
def test_a_verify_value_that_is_neither_a_switch_nor_a_path_is_refused(verify):
    message = refused("'verify' extra", extra={"verify": verify})
    assert repr(verify) in message


@pytest.mark.parametrize(
    ("ca_bundle", "match"),
    [
        ("company-ca", "must be the path of a PEM file"),
        ("~/certs/ca.pem", "not expanded"),
        ("/etc/ssl/ca.pem\nX", "control character"),
        (True, "must be the path of a PEM file"),
    ],
)
def test_bad_ca_bundle_named(ca_bundle, match):
    message = refused(match, extra={"ca_bundle": ca_bundle})
    assert "CA bundle path ('ca_bundle' extra)" in message


@pytest.mark.parametrize(
    "extra",
    [
        {"allow_insecure_tls": True, "ca_bundle": "/etc/ssl/ca.pem"},
        {"allow_insecure_tls": True, "verify": "/etc/ssl/ca.pem"},
        {"allow_insecure_tls": True, "verify": True},
        {"verify": False, "ca_bundle": "/etc/ssl/ca.pem"},
        {"verify": "/etc/ssl/other.pem", "ca_bundle": "/etc/ssl/ca.pem"},
    ],
)
def test_contradicting_tls_settings_refused(extra):
    refused("keep one|remove the 'verify' extra", extra=extra)


@pytest.mark.parametrize("switch", ["allow_insecure_tls", "trust_env"])
@pytest.mark.parametrize("value", ["ture", 2, "maybe", [True]])
def test_bad_switch_values_named(switch, value):
    message = refused(f"'{switch}' extra\\) must be true or false", extra={switch: value})
    assert FIELD_LABELS[switch] in message


# --------------------------------------------------------------------------------------------------
# Proxies and the environment


@pytest.mark.parametrize(
    ("proxies", "expected"),
    [
        (
            "http://proxy.internal:3128",
            {"http": "http://proxy.internal:3128", "https": "http://proxy.internal:3128"},
        ),
        ({"https": "http://proxy.internal:3128"}, {"https": "http://proxy.internal:3128"}),
        ('{"HTTPS": "https://proxy.internal:3129/"}', {"https": "https://proxy.internal:3129/"}),
        ({"all": "http://user:pw@proxy.internal:3128"}, {"all": "http://user:pw@proxy.internal:3128"}),
        ({"https": None, "http": ""}, {}),
        ({}, {}),
    ],
)
def test_proxies(proxies, expected):
    assert settings(extra={"proxies": proxies}).proxies == expected


@pytest.mark.parametrize(
    ("proxies", "match"),
    [
        ("proxy.internal:3128", "not an http:// or https:// URL"),  # requests would guess; aiohttp would not
        ("socks5://proxy.internal:1080", "not an http:// or https:// URL"),
        ("ftp://proxy.internal", "not an http:// or https:// URL"),
        ("http://", "not an http:// or https:// URL"),
        ("http://proxy.internal:99999", "port that is not a number"),
        ("http://proxy.internal:3128/path", "path, query or fragment"),
        ("http://proxy .internal:3128", "space or a control character"),
        ('{"https": 3128}', "maps to 3128"),
        ('{"ftp": "http://proxy:3128"}', "the keys are http, https and all"),
        ('{"https": ', "not valid JSON"),
        (["http://proxy:3128"], "must map schemes to proxy URLs"),
    ],
)
def test_bad_proxies_named(proxies, match):
    message = refused(match, extra={"proxies": proxies})
    assert "Proxies ('proxies' extra)" in message


@pytest.mark.parametrize(
    ("proxy", "secret"),
    [
        ("http://alice:4242/xyz@proxy.internal:3128", "4242"),  # a "/" cuts the user info short
        ("http://alice:s3c?ret@proxy.internal:3128", "s3c"),
        ("http://alice:s3c#ret@proxy.internal:3128", "s3c"),
        ("http://alice:s3c[ret]@proxy.internal:3128", "s3c"),  # urlsplit raises on the "["
        ("http://alice:pa[zz@proxy.internal:3128", "pa[zz"),
        ("http://alice:s3cret@proxy.internal:99999", "s3cret"),
    ],
)
def test_a_password_with_odd_characters_never_shows_in_the_error(proxy, secret):
    with pytest.raises(TaqnyatConfigurationError) as raised:
        settings(extra={"proxies": {"https": proxy}})
    message = str(raised.value)
    assert "Proxies ('proxies' extra)" in message
    assert secret not in message
    assert "alice" not in message


def test_a_bad_proxy_never_shows_its_password():
    message = refused("path", extra={"proxies": {"https": "http://user:pr0xy-s3cret@proxy.internal:3128/x"}})
    assert "pr0xy-s3cret" not in message
    assert "proxy.internal:3128" in message
    assert "pr0xy-s3cret" not in repr(settings(extra={"proxies": "http://u:pr0xy-s3cret@proxy:3128"}))


@pytest.mark.parametrize(
    "proxies",
    [
        "http://proxy.corp:3128",
        {"http": "http://10.0.0.9:3128"},
        {"all": "https://proxy.corp:3129"},  # the proxy would still forward the token in clear text
        {"https": "http://foo.localhost:3128"},
    ],
)
def test_plain_http_base_url_refuses_any_proxy_off_loopback(proxies):
    message = refused("Refusing the proxy", host="http://127.0.0.1:8080", extra={"proxies": proxies})
    assert "clear text" in message
    assert ("proxy.corp" in message) or ("10.0.0.9" in message) or ("foo.localhost" in message)


def test_plain_http_base_url_may_use_a_loopback_proxy():
    s = settings(host="http://127.0.0.1:8080", extra={"proxies": {"http": "http://127.0.0.1:3128"}})
    assert s.proxies == {"http": "http://127.0.0.1:3128"}


def test_https_base_url_may_use_a_plain_http_proxy():
    # The proxy only tunnels the TLS connection (CONNECT): it never sees the token.
    assert settings(extra={"proxies": "http://proxy.corp:3128"}).proxies["https"] == "http://proxy.corp:3128"


def test_trust_env_is_off_unless_the_connection_says_so():
    assert settings().trust_env is False
    assert settings(extra={"trust_env": "true"}).trust_env is True


def test_trust_env_never_applies_to_a_plain_http_base_url():
    s = settings(host="http://127.0.0.1:8080", extra={"trust_env": True})
    assert s.trust_env is False
    (warning,) = s.warnings
    assert "'trust_env' extra) is ignored for the plain-http API base URL http://127.0.0.1:8080" in warning


# --------------------------------------------------------------------------------------------------
# The token


def test_token_required_only_for_authenticated_calls():
    s = settings(password=None)
    with pytest.raises(TaqnyatConfigurationError, match="password field"):
        s.require_token()
    assert settings(password="  tok ").require_token() == "tok"


def test_token_never_in_repr():
    assert "s3cr3t-token" not in repr(settings(password="s3cr3t-token"))


@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("s3cr3t\r\nX-Evil: 1", "line break"),
        ("s3cr3t\ntoken", "line break"),
        ("s3cr3t token", "contains a space"),
        ("s3cr3t\ttoken", "contains a space"),
        ("s3cr3t\u00e9token", "not ASCII"),  # latin-1: requests would send it, aiohttp would not
        ("s3cr3t\u201ctoken\u201d", "not ASCII"),  # a word processor's quotes
        ("s3cr3t\u0663token", "not ASCII"),
        ("s3cr3t\x00token", "control character"),
        ("s3cr3t\x7ftoken", "control character"),
    ],
)
def test_a_token_that_cannot_go_in_a_header_is_refused_without_being_shown(token, match):
    message = refused(match, password=token)
    assert "Bearer token" in message
    assert "s3cr3t" not in message


def test_labels_are_those_of_the_connection_form():
    from taqnyat_provider.get_provider_info import EXTRA_FIELDS, RELABELING

    # The form shows every extra this provider reads (``verify`` is the older spelling of two of them).
    assert {extra_field.name for extra_field in EXTRA_FIELDS} == set(EXTRA_NAMES) - {"verify"}
    assert RELABELING == {"password": "Bearer token", "host": "API base URL (optional)"}
