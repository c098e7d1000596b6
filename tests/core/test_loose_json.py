"""Reading a body (core/loose_json.py): loose JSON mended or refused, within its depth and size bounds."""

from __future__ import annotations

import json
import time

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.loose_json import decode_body
from taqnyat_provider.core.sending import parse_send_response
from tests.core import reference_examples as ref


class TestLooseValues:
    def test_decode_keeps_arabic(self):
        assert decode_body('{"MessageAr": "تم الارسال"}')["MessageAr"] == "تم الارسال"


def test_valid_json_is_never_run_through_the_loose_reader(monkeypatch):
    from taqnyat_provider.core import loose_json

    def must_not_run(text):
        raise AssertionError("the loose reader ran on valid JSON")

    monkeypatch.setattr(loose_json, "_read_loose_json", must_not_run)
    assert parse_send_response(201, ref.SMS_SUCCESS, ["966500000000"]).message_id == "5452899970"
    with pytest.raises(exc.TaqnyatResponseError, match="not a JSON object"):
        decode_body("[1, 2]")  # valid JSON but not an object: not mended into one


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a: 1", {"a": 1}),
        ('"a": [1, 2,],', {"a": [1, 2]}),
        ('{"a": {b: c, d: "e",},', {"a": {"b": "c", "d": "e"}}),
        ("x: {", {"x": {}}),
        (
            'a: "x\\"y", b: true, c: null, d: -1.5e3, e: V-8',
            {"a": 'x"y', "b": True, "c": None, "d": -1500.0, "e": "V-8"},
        ),
        (
            'statusCode : 200 ,\n status : {\n service : "none"',
            {"statusCode": 200, "status": {"service": "none"}},
        ),
    ],
)
def test_loose_json_that_is_read(body, expected):
    assert decode_body(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        '"a":',  # a key without a value
        "[1 2]",  # two values in a row
        "}",  # a stray closer
        '{"a": 1}}',  # something after the object
        '{"a": 1]',  # the wrong closer
        "a: 5452abc",  # a number running into letters
        "1, 2",  # not an object
        '"a": "unterminated',
        "a:: 1",
    ],
)
def test_loose_json_that_is_not_read(body):
    with pytest.raises(exc.TaqnyatResponseError, match="not a JSON object"):
        decode_body(body)


@pytest.mark.parametrize("levels", [64, 1000, 5000])
def test_deep_valid_json_fails_as_a_response_error(levels):
    # The same on every Python: 3.11's JSON scanner gives up near 1,000 levels, 3.13's does not.
    deep = '{"statusCode": 201, "messageId": "1", "x": ' + "[" * levels + "]" * levels + "}"
    with pytest.raises(exc.TaqnyatResponseError, match="nested deeper than 64 levels"):
        parse_send_response(201, deep, ["966500000000"])


@pytest.mark.parametrize(
    "body",
    [
        "statusCode: 201, messageId: 1, x: " + "[" * 70,  # loose JSON, closers missing
        '{"statusCode": 201, "x": ' + "[" * 70 + "x",  # not JSON at all
    ],
)
def test_deep_loose_json_names_the_limit_too(body):
    with pytest.raises(exc.TaqnyatResponseError, match="nested deeper than 64 levels"):
        parse_send_response(201, body, ["966500000000"])


def test_a_megabyte_of_small_objects_is_checked_for_depth_quickly():
    # 350,000 containers side by side: walked a level at a time in comprehensions, not one by one.
    items = ",".join(["{}"] * 349_000)
    body = '{"statusCode": 201, "messageId": "1", "x": [' + items + "]}"
    assert parse_send_response(201, body, ["966500000000"]).message_id == "1"

    def fastest(run):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return min(times)

    # Against decoding the same text on the same machine, so a slow or busy machine cannot fail it:
    # the whole parse with the level walk takes about 4 decodes, with the walk it replaced some 23.
    decode = fastest(lambda: json.loads(body))
    whole = fastest(lambda: parse_send_response(201, body, ["966500000000"]))
    assert whole < 8 * decode, (whole, decode)


def test_json_nested_to_the_limit_is_read():
    # The object is level one: 63 lists inside it make 64 levels, the most any answer may have.
    body = '{"statusCode": 201, "messageId": "1", "x": ' + "[" * 63 + "]" * 63 + "}"
    assert parse_send_response(201, body, ["966500000000"]).message_id == "1"
    # Many containers side by side are not deep.
    wide = '{"statusCode": 201, "messageId": "1", "x": [' + ",".join(["[{}]"] * 5000) + "]}"
    assert parse_send_response(201, wide, ["966500000000"]).message_id == "1"
