from __future__ import annotations

import pytest

from taqnyat_provider.connection_settings import DEFAULT_BASE_URL, build_base_url, settings_from_connection
from taqnyat_provider.exceptions import TaqnyatConfigurationError


def settings(**overrides):
    fields = {"host": None, "schema": None, "port": None, "password": "tok", "extra": {}}
    fields.update(overrides)
    return settings_from_connection(**fields)


def test_defaults():
    s = settings()
    assert s.base_url == DEFAULT_BASE_URL == "https://api.taqnyat.sa"
    assert s.timeout == 30.0
    assert s.verify is True
    assert s.proxies == {}
    assert s.url("/voiceSend.php/") == "https://api.taqnyat.sa/voiceSend.php/"


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("http://127.0.0.1:8080", None, None, "http://127.0.0.1:8080"),
        ("http://localhost:9", None, None, "http://localhost:9"),
        ("http://[::1]:9", None, None, "http://[::1]:9"),
        ("http://127.5.5.5", None, None, "http://127.5.5.5"),
        ("127.0.0.1", "http", 8080, "http://127.0.0.1:8080"),
        ("api.taqnyat.sa", None, None, "https://api.taqnyat.sa"),
        ("https://api.taqnyat.sa/", None, None, "https://api.taqnyat.sa"),
        ("https://proxy.example.com/taqnyat", None, 8443, "https://proxy.example.com:8443/taqnyat"),
    ],
)
def test_base_urls(host, schema, port, expected):
    assert build_base_url(host, schema, port) == expected


@pytest.mark.parametrize("host", ["http://api.taqnyat.sa", "http://10.0.0.5:8080", "http://example.com"])
def test_plain_http_refused_off_loopback(host):
    with pytest.raises(TaqnyatConfigurationError, match="clear text"):
        build_base_url(host)


@pytest.mark.parametrize(
    "host", ["ftp://api.taqnyat.sa", "https://user:pw@api.taqnyat.sa", "https://api.taqnyat.sa/?x=1"]
)
def test_bad_hosts(host):
    with pytest.raises(TaqnyatConfigurationError):
        build_base_url(host)


def test_extras():
    s = settings(
        extra={
            "timeout": "5",
            "caller_id": " 966500000001 ",
            "sender": "Brand",
            "verify": "false",
            "proxies": '{"https": "http://proxy:3128"}',
        }
    )
    assert s.timeout == 5.0
    assert s.caller_id == "966500000001"
    assert s.sender == "Brand"
    assert s.verify is False
    assert s.proxies == {"https": "http://proxy:3128"}
    assert settings(extra={"verify": "/etc/ssl/ca.pem"}).verify == "/etc/ssl/ca.pem"


@pytest.mark.parametrize("timeout", ["0", "-1", "abc", "nan", "inf", [1]])
def test_bad_timeout_named(timeout):
    with pytest.raises(TaqnyatConfigurationError, match="timeout"):
        settings(extra={"timeout": timeout})


def test_token_required_only_for_authenticated_calls():
    s = settings(password=None)
    with pytest.raises(TaqnyatConfigurationError, match="password field"):
        s.require_token()
    assert settings(password="  tok ").require_token() == "tok"


def test_token_never_in_repr():
    assert "s3cr3t-token" not in repr(settings(password="s3cr3t-token"))


def test_token_with_line_break_refused():
    with pytest.raises(TaqnyatConfigurationError, match="line break"):
        settings(password="tok\r\nX-Evil: 1")
