from __future__ import annotations

import contextlib
import json
import time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core import error_codes
from taqnyat_provider.core.endpoints.account import Sender, parse_balance, parse_senders
from taqnyat_provider.core.endpoints.sms_delete import parse_acknowledgement
from taqnyat_provider.core.endpoints.status import parse_system_status
from taqnyat_provider.core.loose_json import decode_body
from taqnyat_provider.core.sending import parse_send_response
from taqnyat_provider.core.wire import as_decimal, as_int, as_number_list
from tests.core import reference_examples as ref

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
    def test_error_example_with_http_200_contradicts_itself_and_is_not_a_refusal(self, code):
        # The reference sends its errors with HTTP 400: a 2xx that carries one says both "sent" and
        # "refused". A refusal would tell the user to fix and clear, and a clear sends again.
        with pytest.raises(exc.TaqnyatResponseError, match=f"Contradictory answer.*error {code}") as raised:
            parse_send_response(200, ref.VOICE_ERRORS[code], ["966500000000"])
        assert not isinstance(raised.value, exc.TaqnyatApiError)
        assert raised.value.http_status == 200

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

    def test_body_status_code_contradicting_http_200_is_not_a_refusal(self):
        with pytest.raises(exc.TaqnyatResponseError, match="Contradictory answer") as raised:
            parse_send_response(200, '{"statusCode": 400, "message": "Bad recipients"}', ["966500000000"])
        assert raised.value.http_status == 200
        assert "Bad recipients" in str(raised.value)

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

    def test_fail_without_code_on_http_200_is_not_a_refusal(self):
        with pytest.raises(exc.TaqnyatResponseError, match="reports a failure"):
            parse_send_response(200, '{"ResponseStatus": "fail"}', ["966500000000"])

    def test_garbled_2xx_mentioning_an_error_code_is_not_a_refusal(self):
        # Issue 22: this was "insufficient balance" (top up, clear, and the clear sends again).
        body = '{"statusCode": 201, "messageId": "9", garbled "ErrorCode": 3, '
        with pytest.raises(exc.TaqnyatResponseError, match=r"Contradictory answer.*error 3") as raised:
            parse_send_response(201, body, ["966500000000"])
        assert not isinstance(raised.value, exc.TaqnyatApiError)

    def test_valid_2xx_with_a_success_message_id_and_error_code_0_is_not_a_refusal(self):
        body = '{"statusCode":201,"messageId":"9","Error":{"ErrorCode":0}}'
        with pytest.raises(exc.TaqnyatResponseError, match=r"Contradictory answer.*error 0"):
            parse_send_response(201, body, ["966500000000"])

    def test_a_garbled_4xx_with_an_error_code_is_still_that_refusal(self):
        with pytest.raises(exc.TaqnyatInsufficientBalanceError):
            parse_send_response(400, '{"x" "ErrorCode": 3, garbled', ["966500000000"])


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


# --------------------------------------------------------------------------------------------------
# Numbers as the API spells them (a number is never both accepted and rejected)


@pytest.mark.parametrize(
    "spelled", ["+966511111111", "00966511111111", "966 51 111 1111", "+966-51-111-1111", "٩٦٦٥١١١١١١١١"]
)
def test_voice_rejection_spelled_otherwise_is_matched_by_digits(spelled):
    body = {"ResponseStatus": "success", "messageId": "7", "Data": {"rejectedNumber": f"[{spelled}]"}}
    result = parse_send_response(201, json.dumps(body), ["966500000000", "966511111111"])
    assert result.accepted == ["966500000000"]
    assert result.rejected == ["966511111111"]  # as it was sent


def test_sms_lists_spelled_otherwise_are_reported_as_sent():
    body = {
        "statusCode": 201,
        "messageId": "9",
        "accepted": '["+966500000000", "00966512345678"]',
        "rejected": "[+966 55 123 4567,]",
    }
    result = parse_send_response(201, json.dumps(body), ["966500000000", "966512345678", "966551234567"])
    assert result.accepted == ["966500000000", "966512345678"]
    assert result.rejected == ["966551234567"]


def test_a_number_listed_both_accepted_and_rejected_counts_as_rejected():
    body = {
        "statusCode": 201,
        "messageId": "9",
        "accepted": "[+966500000000,966511111111]",
        "rejected": "[966500000000]",
    }
    result = parse_send_response(201, json.dumps(body), ["966500000000", "966511111111"])
    assert result.accepted == ["966511111111"]
    assert result.rejected == ["966500000000"]
    assert not set(result.accepted) & set(result.rejected)


def test_each_number_is_reported_once():
    body = {"statusCode": 201, "messageId": "9", "accepted": "[966500000000,+966500000000,00966500000000]"}
    assert parse_send_response(201, json.dumps(body), ["966500000000"]).accepted == ["966500000000"]


def test_a_listed_number_that_was_not_sent_is_kept_in_digits():
    body = {
        "statusCode": 201,
        "messageId": "9",
        "accepted": "[966500000000]",
        "rejected": "[+20 100 123 4567]",
    }
    assert parse_send_response(201, json.dumps(body), ["966500000000"]).rejected == ["201001234567"]


# --------------------------------------------------------------------------------------------------
# Decoding


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


def test_deep_json_in_a_senders_string_is_no_list():
    body = json.dumps({"statusCode": 200, "senders": "[" * 100_000})
    assert parse_senders(200, body) == []


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


SENT = ["966500000000", "966511111111", "966522222222", "966533333333"]


def spell(number: str, how: int) -> str:
    """One of the ways an answer may write a number that was sent as international digits."""
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    return [
        number,
        "+" + number,
        "00" + number,
        f"+{number[:3]} {number[3:5]} {number[5:]}",
        number.translate(arabic),
    ][how]


@settings(max_examples=200, deadline=None)
@given(
    accepted=st.lists(st.tuples(st.sampled_from(SENT), st.integers(0, 4)), max_size=6),
    rejected=st.lists(st.tuples(st.sampled_from(SENT), st.integers(0, 4)), max_size=6),
    lists_accepted=st.booleans(),
)
def test_a_number_is_never_both_accepted_and_rejected(accepted, rejected, lists_accepted):
    body = {"statusCode": 201, "messageId": "1", "rejected": ",".join(spell(n, how) for n, how in rejected)}
    if lists_accepted:
        body["accepted"] = json.dumps([spell(n, how) for n, how in accepted])
    result = parse_send_response(201, json.dumps(body), SENT)
    assert not set(result.accepted) & set(result.rejected)
    assert set(result.rejected) == {n for n, _ in rejected}
    expected_accepted = {n for n, _ in accepted} if lists_accepted else set(SENT)
    assert set(result.accepted) == expected_accepted - set(result.rejected)
    assert len(result.accepted) == len(set(result.accepted))  # each number once, spelled as sent
