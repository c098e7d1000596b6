"""The account endpoints' answers (core/endpoints/account.py): the balance and the senders."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.account import Sender, parse_balance, parse_senders
from tests.core import reference_examples as ref


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


def test_deep_json_in_a_senders_string_is_no_list():
    body = json.dumps({"statusCode": 200, "senders": "[" * 100_000})
    assert parse_senders(200, body) == []
