"""What an answer means (core/wire.py): the verdict on status and body, and loose values coerced."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.account import parse_balance, parse_senders
from taqnyat_provider.core.endpoints.sms_delete import parse_acknowledgement
from taqnyat_provider.core.endpoints.status import parse_system_status
from taqnyat_provider.core.sending import parse_send_response
from taqnyat_provider.core.wire import as_decimal, as_int, as_number_list
from tests.core import reference_examples as ref


class TestSendResponses:
    @pytest.mark.parametrize(
        "body", ["", "   ", "<html><body>502 Bad Gateway</body></html>", "ok", "[1,2]", '"text"']
    )
    def test_unreadable_2xx_is_a_response_error(self, body):
        with pytest.raises(exc.TaqnyatResponseError):
            parse_send_response(201, body, ["966500000000"])

    def test_2xx_without_any_sign_of_success_is_not_trusted(self):
        with pytest.raises(exc.TaqnyatResponseError, match="no sign of success"):
            parse_send_response(200, "{}", ["966500000000"])

    def test_body_status_code_400_with_http_400_is_a_refusal(self):
        with pytest.raises(exc.TaqnyatApiError) as raised:
            parse_send_response(400, '{"statusCode": 400, "message": "Bad recipients"}', ["966500000000"])
        assert raised.value.http_status == 400
        assert "Bad recipients" in str(raised.value)

    @pytest.mark.parametrize(
        "body",
        ["", '{"statusCode":401,"message":"invalid credentials information"}', "<html>401</html>", "garbage"],
    )
    def test_http_401_is_an_invalid_token_whatever_the_body(self, body):
        with pytest.raises(exc.TaqnyatInvalidTokenError) as raised:
            parse_send_response(401, body, ["966500000000"])
        assert raised.value.code == 104
        assert raised.value.http_status == 401

    def test_unknown_code_keeps_its_code(self):
        body = '{"ResponseStatus": "fail", "Error": {"ErrorCode": "999", "MessageEn": "Something new"}}'
        with pytest.raises(exc.TaqnyatApiError) as raised:
            parse_send_response(400, body, ["966500000000"])
        assert type(raised.value) is exc.TaqnyatApiError
        assert raised.value.code == 999
        assert "Something new" in str(raised.value)

    def test_fail_without_code(self):
        with pytest.raises(exc.TaqnyatApiError) as raised:
            parse_send_response(400, '{"ResponseStatus": "fail"}', ["966500000000"])
        assert raised.value.code is None

    def test_a_garbled_4xx_with_an_error_code_is_still_that_refusal(self):
        with pytest.raises(exc.TaqnyatInsufficientBalanceError):
            parse_send_response(400, '{"x" "ErrorCode": 3, garbled', ["966500000000"])


class TestLooseValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("[966500000000,]", ["966500000000"]),
            ("[]", []),
            ("null", []),
            (None, []),
            ("966500000000,966511111111", ["966500000000", "966511111111"]),
            ('["966500000000", 966511111111]', ["966500000000", "966511111111"]),
            ([966500000000, "966511111111"], ["966500000000", "966511111111"]),
            (966500000000, ["966500000000"]),
            ({"unexpected": 1}, []),
        ],
    )
    def test_number_lists(self, value, expected):
        assert as_number_list(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("3", 3), (3, 3), ("3.0", 3), ("null", None), (True, None), ("x", None), (2.5, None)],
    )
    def test_ints(self, value, expected):
        assert as_int(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("0.216", Decimal("0.216")), (0.026, Decimal("0.026")), ("NaN", None), ("null", None), ([], None)],
    )
    def test_decimals(self, value, expected):
        assert as_decimal(value) == expected


PROVIDER_ERRORS = (exc.TaqnyatApiError, exc.TaqnyatResponseError)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
interesting_keys = st.sampled_from(
    [
        "statusCode",
        "ResponseStatus",
        "Error",
        "ErrorCode",
        "Data",
        "messageId",
        "status",
        "service",
        "accepted",
        "rejected",
        "rejectedNumber",
        "balance",
        "senders",
        "message",
        "price",
        "cost",
        "result",
    ]
)
shaped_bodies = st.dictionaries(interesting_keys, json_values, max_size=8).map(json.dumps)
statuses = st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 405, 429, 500, 502, 503]) | st.integers(
    100, 599
)
bodies = st.text(max_size=300) | shaped_bodies | st.binary(max_size=100)


@settings(max_examples=400, deadline=None)
@given(status=statuses, body=bodies)
def test_parsers_raise_only_provider_errors(status, body):
    for parse in (
        lambda: parse_send_response(status, body, ["966500000000"]),
        lambda: parse_system_status(status, body),
        lambda: parse_balance(status, body),
        lambda: parse_senders(status, body),
        lambda: parse_acknowledgement(status, body),
    ):
        with contextlib.suppress(PROVIDER_ERRORS):
            parse()


@settings(max_examples=200, deadline=None)
@given(status=statuses, body=shaped_bodies)
def test_a_send_is_success_only_with_2xx_and_no_error(status, body):
    try:
        parse_send_response(status, body, ["966500000000"])
    except PROVIDER_ERRORS:
        return
    assert 200 <= status < 300
    decoded = json.loads(body)
    error = decoded.get("Error")
    assert not (isinstance(error, dict) and as_int(error.get("ErrorCode")) is not None)
    assert str(decoded.get("ResponseStatus", "")).lower() not in {"fail", "failed", "failure", "error"}
    body_status = as_int(decoded.get("statusCode"))
    assert body_status is None or body_status < 400


def test_error_code_in_broken_text_is_not_cut_from_a_longer_number():
    with pytest.raises(exc.TaqnyatApiError) as raised:
        parse_send_response(400, '"x": "y" "ErrorCode": 12345, garbage', ["966500000000"])
    assert raised.value.code is None
    with pytest.raises(exc.TaqnyatIpNotAuthorizedError):
        parse_send_response(400, ref.VOICE_ERRORS[102], ["966500000000"])


def test_a_huge_server_message_is_cut_to_an_excerpt():
    body = json.dumps({"ResponseStatus": "fail", "Error": {"ErrorCode": 999, "MessageEn": "x" * 500_000}})
    with pytest.raises(exc.TaqnyatApiError) as raised:
        parse_send_response(400, body, ["966500000000"])
    assert len(str(raised.value)) < 1000


@pytest.mark.parametrize("value", ["1" * 5000, "9" * 65, "-" + "1" * 100, 10**100])
def test_huge_numbers_are_unreadable_not_errors(value):
    # int() of a 5,000-digit text raises ValueError (and is slow): such a text is no code or amount.
    assert as_int(value) is None if isinstance(value, str) else as_int(value) == value
    assert as_decimal(value) is None
