from __future__ import annotations

import contextlib
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taqnyat_provider import error_codes
from taqnyat_provider import exceptions as exc
from taqnyat_provider.responses import (
    Sender,
    as_decimal,
    as_int,
    as_number_list,
    decode_body,
    parse_acknowledgement,
    parse_balance,
    parse_send_response,
    parse_senders,
    parse_system_status,
)
from tests.unit import reference_examples as ref

EXPECTED_CLASSES = {
    2: exc.TaqnyatBalanceEmptyError,
    3: exc.TaqnyatInsufficientBalanceError,
    14: exc.TaqnyatInvalidCallerIdError,
    15: exc.TaqnyatInvalidRecipientsApiError,
    17: exc.TaqnyatAudioFileError,
    101: exc.TaqnyatApiSendingDisabledError,
    102: exc.TaqnyatIpNotAuthorizedError,
    104: exc.TaqnyatInvalidTokenError,
}


class TestReferenceExamples:
    def test_voice_success_example(self):
        result = parse_send_response(201, ref.VOICE_SUCCESS, ["966500000000"])
        assert result.message_id == "5452899970"
        assert result.accepted == ["966500000000"]
        assert result.rejected == []
        assert result.cost == Decimal("0.216")

    @pytest.mark.parametrize("code", sorted(ref.VOICE_ERRORS))
    def test_every_documented_error_example(self, code):
        with pytest.raises(EXPECTED_CLASSES[code]) as raised:
            parse_send_response(400 if code != 104 else 401, ref.VOICE_ERRORS[code], ["966500000000"])
        assert raised.value.code == code
        assert str(code) in str(raised.value)

    @pytest.mark.parametrize("code", sorted(ref.VOICE_ERRORS))
    def test_error_example_is_an_error_even_with_http_200(self, code):
        # "status": 1 is on failures too: the Error object decides, not the status or HTTP code.
        with pytest.raises(EXPECTED_CLASSES[code]):
            parse_send_response(200, ref.VOICE_ERRORS[code], ["966500000000"])

    def test_status_example_is_operational(self):
        status = parse_system_status(200, ref.STATUS_OK)
        assert status.operational is True
        assert status.service == "none"
        assert status.description == "All Services are Operational"

    def test_method_not_allowed_example(self):
        with pytest.raises(exc.TaqnyatMethodNotAllowedError) as raised:
            parse_system_status(405, ref.METHOD_NOT_ALLOWED)
        assert raised.value.http_status == 405


class TestSendResponses:
    def test_sms_success_with_trailing_comma_lists(self):
        body = {
            "statusCode": 201,
            "messageId": 5452899970,
            "cost": 0.026,
            "currency": "SAR",
            "totalCount": 2,
            "msgLength": 1,
            "accepted": "[966500000000,]",
            "rejected": "[966511111111,]",
        }
        result = parse_send_response(201, json.dumps(body), ["966500000000", "966511111111"])
        assert result.accepted == ["966500000000"]
        assert result.rejected == ["966511111111"]
        assert result.cost == Decimal("0.026")
        assert result.currency == "SAR"

    def test_voice_partial_rejection_in_string(self):
        body = json.loads(
            json.dumps(
                {
                    "status": 1,
                    "ResponseStatus": "success",
                    "messageId": "7",
                    "Data": {"rejectedNumber": "[966511111111]", "Error": "null"},
                }
            )
        )
        result = parse_send_response(201, json.dumps(body), ["966500000000", "966511111111"])
        assert result.accepted == ["966500000000"]
        assert result.rejected == ["966511111111"]

    @pytest.mark.parametrize(
        "body", ["", "   ", "<html><body>502 Bad Gateway</body></html>", "ok", "[1,2]", '"text"']
    )
    def test_unreadable_2xx_is_a_response_error(self, body):
        with pytest.raises(exc.TaqnyatResponseError):
            parse_send_response(201, body, ["966500000000"])

    def test_2xx_without_any_sign_of_success_is_not_trusted(self):
        with pytest.raises(exc.TaqnyatResponseError, match="no sign of success"):
            parse_send_response(200, "{}", ["966500000000"])

    def test_body_status_code_contradicting_http_200_wins(self):
        with pytest.raises(exc.TaqnyatApiError) as raised:
            parse_send_response(200, '{"statusCode": 400, "message": "Bad recipients"}', ["966500000000"])
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
            parse_send_response(200, '{"ResponseStatus": "fail"}', ["966500000000"])
        assert raised.value.code is None


class TestOtherResponses:
    def test_balance(self):
        body = '{"statusCode":200,"accountStatus":"active","accountExpiryDate":"23-08-2021","balance":"2044.000","currency":"SAR"}'
        balance = parse_balance(200, body)
        assert balance.balance == Decimal("2044.000")
        assert balance.currency == "SAR"
        assert balance.account_status == "active"

    def test_balance_without_number(self):
        with pytest.raises(exc.TaqnyatResponseError):
            parse_balance(200, '{"statusCode":200,"balance":"n/a"}')

    def test_degraded_status(self):
        status = parse_system_status(
            200, '{"statusCode":200,"status":{"service":"voice","description":"Voice service is degraded"}}'
        )
        assert status.operational is False
        assert status.service == "voice"

    def test_status_with_none_service_but_troubled_description(self):
        body = '{"statusCode":200,"status":{"service":"none","description":"Partial outage"}}'
        assert parse_system_status(200, body).operational is False

    def test_status_body_code_disagreeing_with_http(self):
        with pytest.raises(exc.TaqnyatResponseError):
            parse_system_status(200, '{"statusCode": 503, "status": {"service": "none"}}')


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

    def test_decode_keeps_arabic(self):
        assert decode_body('{"MessageAr": "تم الارسال"}')["MessageAr"] == "تم الارسال"


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


def test_every_catalog_code_has_a_class():
    assert set(EXPECTED_CLASSES) == set(error_codes.CATALOG)


# --------------------------------------------------------------------------------------------------
# SMS


def test_sms_success_from_trailing_comma_strings():
    result = parse_send_response(201, ref.SMS_SUCCESS, ["966500000000"])
    assert result.message_id == "5452899970"
    assert result.accepted == ["966500000000"]
    assert result.rejected == []
    assert (result.cost, result.currency) == (Decimal("0.026"), "SAR")


def test_sms_partial_rejection_trusts_the_lists_not_the_recipients():
    body = (
        '{"statusCode":201,"messageId":"9","cost":"0.052","currency":"SAR","totalCount":3,'
        '"accepted":"[966500000000,966512345678,]","rejected":"[966551234567,]"}'
    )
    result = parse_send_response(201, body, ["966500000000", "966512345678", "966551234567"])
    assert result.accepted == ["966500000000", "966512345678"]
    assert result.rejected == ["966551234567"]


def test_sms_unauthorized_is_code_104():
    with pytest.raises(exc.TaqnyatInvalidTokenError) as raised:
        parse_send_response(401, ref.SMS_UNAUTHORIZED, ["966500000000"])
    assert "invalid credentials information" in str(raised.value)


def test_sms_error_in_the_voice_envelope():
    with pytest.raises(exc.TaqnyatInsufficientBalanceError):
        parse_send_response(400, ref.VOICE_ERRORS[3], ["966500000000"])


def test_sms_201_without_evidence_is_not_a_success():
    with pytest.raises(exc.TaqnyatResponseError):
        parse_send_response(201, '{"totalCount": 1}', ["966500000000"])


def test_senders():
    assert parse_senders(200, ref.SENDERS) == [Sender("Taqnyat.sa", "active")]
    assert parse_senders(200, ref.SENDERS)[0].active


@pytest.mark.parametrize(
    "body",
    [
        '{"statusCode":200,"senders":[]}',
        '{"statusCode":200,"senders":null}',
        '{"statusCode":200}',
        '{"statusCode":200,"senders":"[]"}',
    ],
)
def test_trial_account_has_no_senders(body):
    assert parse_senders(200, body) == []


def test_senders_loose_forms():
    body = '{"statusCode":"200","senders":["Brand",{"senderName":"Other","status":"pending"}]}'
    assert parse_senders(200, body) == [Sender("Brand", None), Sender("Other", "pending")]
    with pytest.raises(exc.TaqnyatResponseError, match="no list of senders"):
        parse_senders(200, '{"statusCode":200,"senders":{"a":1}}')
    with pytest.raises(exc.TaqnyatInvalidTokenError):
        parse_senders(401, ref.SMS_UNAUTHORIZED)


def test_delete_acknowledgement():
    assert parse_acknowledgement(201, ref.SMS_DELETED).message == "Deleted successfully"
    with pytest.raises(exc.TaqnyatApiError, match="no scheduled message"):
        parse_acknowledgement(404, '{"statusCode":404,"message":"no scheduled message with deleteId 5"}')
    with pytest.raises(exc.TaqnyatResponseError):
        parse_acknowledgement(200, "{}")
