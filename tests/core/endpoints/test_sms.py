"""The SMS endpoint's answers to a send (core/endpoints/sms.py gives them to the shared send parser)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.sending import parse_send_response
from tests.core import reference_examples as ref


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
