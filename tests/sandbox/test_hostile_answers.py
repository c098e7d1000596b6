"""
The sandbox plays the hostile answers the hardening suites need: very long bodies, bodies that are
not UTF-8, odd ``Retry-After`` values, and a 503 with or without ``Retry-After``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest
import requests

from taqnyat_provider.sandbox.state import Fault
from tests.sandbox.client import SMS, TOKEN, admin, call, raw_headers


def test_a_long_answer_is_the_same_json_padded_to_the_size_asked(api):
    api.state.inject("long", endpoint="voice", size=40_000)

    answer = call(api)

    assert answer.status_code == 201
    assert len(answer.content) == 40_000
    assert answer.content.count(b"\n") > 39_000
    payload = json.loads(answer.content)
    assert payload["ResponseStatus"] == "success" and payload["Data"]["MessageEn"] == "sent successfully"
    # The work was done: the call went out, as when a real answer is merely long.
    assert api.state.called_numbers() == ["966500000000"]
    assert api.received("voice")[0].fault == "long"


def test_a_long_status_answer_can_be_a_megabyte_of_spaces_and_tabs(api):
    api.state.inject("long", endpoint="status", size=1_000_000, filler=" \t")

    answer = requests.get(f"{api.base_url}/system/status", timeout=10)

    assert len(answer.content) == 1_000_000
    assert json.loads(answer.content)["status"]["description"] == "All Services are Operational"
    assert set(answer.content[1:999_000]) == {ord(" "), ord("\t")}


def test_a_whitespace_answer_has_nothing_but_whitespace(api):
    api.state.inject("whitespace", endpoint="sms", size=1_000_000)
    answer = requests.post(
        f"{api.base_url}/v1/messages", json=SMS, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )

    assert answer.status_code == 201
    assert answer.content == b"\n" * 1_000_000
    assert api.state.texted_numbers() == ["966500000000"]  # sent, but the answer says nothing


@pytest.mark.parametrize("encoding", ["cp1256", "latin-1", "utf-16"])
def test_a_non_utf8_answer_never_decodes_as_utf8_but_is_the_answer_in_its_encoding(api, encoding):
    api.state.inject("non_utf8", endpoint="voice", encoding=encoding)

    answer = call(api)

    assert answer.status_code == 201
    with pytest.raises(UnicodeDecodeError):
        answer.content.decode("utf-8")
    payload = json.loads(answer.content.decode(encoding))
    assert payload["status"] == 1 and payload["Data"]["msgId"].startswith("V-")
    assert api.state.called_numbers() == ["966500000000"]


def test_a_non_utf8_status_answer_in_windows_1256(api):
    api.state.inject("non_utf8", endpoint="status")
    answer = requests.get(f"{api.base_url}/system/status", timeout=10)

    assert answer.content.decode("cp1256").startswith('{"Note": "رد من الخادم القديم')
    assert json.loads(answer.content.decode("cp1256"))["status"]["service"] == "none"


@pytest.mark.parametrize(
    "retry_after",
    ["²", "١٠", "soon", "-1", "1e3", " 7 ", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT"],
)
@pytest.mark.parametrize("kind", ["429", "503"])
def test_retry_after_is_sent_exactly_as_given(api, kind, retry_after):
    api.state.inject(kind, endpoint="voice", retry_after=retry_after)

    headers = raw_headers(api)

    # Byte for byte, in UTF-8, spaces kept: what a client must cope with is what it gets.
    assert headers[b"retry-after"] == retry_after.encode()
    assert [r.status for r in api.received("voice")] == [int(kind)]
    assert api.state.calls == []  # refused before the work


def test_retry_after_as_an_http_date_in_the_future(api):
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    api.state.inject("429", endpoint="voice", retry_after=format_datetime(when, usegmt=True))

    answer = call(api)

    assert parsedate_to_datetime(answer.headers["Retry-After"]) == when


def test_retry_after_as_a_number_is_sent_as_delta_seconds(api):
    api.state.inject("429", endpoint="voice", retry_after=2)
    assert call(api).headers["Retry-After"] == "2"


def test_a_503_with_retry_after_is_the_api_asking_to_come_back(api):
    api.state.inject("503", endpoint="voice", retry_after="5")
    answer = call(api)
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "5")
    assert "Service Unavailable" in answer.text


def test_a_503_without_retry_after_is_a_proxy_s_upstream_reset(api):
    api.state.inject("503", endpoint="voice", retry_after=None)
    answer = call(api)
    assert answer.status_code == 503 and "Retry-After" not in answer.headers


def test_the_503_kinds_can_be_asked_over_http(api):
    assert admin(api, "POST", "faults", {"kind": "503", "retry_after": None}).status_code == 200
    assert admin(api, "POST", "faults", {"kind": "503", "retry_after": "²"}).status_code == 200
    assert admin(api, "POST", "faults", {"kind": "long", "size": 40_000}).status_code == 200

    first, second, third = call(api), call(api), call(api)

    assert "Retry-After" not in first.headers
    # requests reads header bytes as Latin-1; the sandbox wrote "²" in UTF-8.
    assert second.headers["Retry-After"].encode("latin-1") == "²".encode()
    assert (third.status_code, len(third.content)) == (201, 40_000)


@pytest.mark.parametrize(
    "options",
    [
        {"kind": "long", "filler": "x"},
        {"kind": "long", "filler": ""},
        {"kind": "whitespace", "size": -1},
        {"kind": "whitespace", "size": 10**9},
        {"kind": "long", "size": True},
        {"kind": "non_utf8", "encoding": "utf-8"},
        {"kind": "non_utf8", "encoding": "klingon"},
        {"kind": "429", "retry_after": ["1"]},
    ],
)
def test_a_fault_that_cannot_be_played_is_refused_up_front(api, options):
    with pytest.raises(ValueError):
        Fault(**options)
    answer = admin(api, "POST", "faults", options)
    assert answer.status_code == 400
    assert api.state.faults == []
