"""What both send endpoints share (core/sending.py): the prepared send and the reading of a send's answer."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.sending import PreparedSend, parse_send_response


def test_the_digest_ignores_made_up_fields_and_sees_everything_else():
    base = PreparedSend(
        "v1/messages",
        {"body": "hi", "deleteId": 1},
        ["1", "2"],
        generated=frozenset({"deleteId"}),
        parse=parse_send_response,
    )
    same = PreparedSend(
        "v1/messages",
        {"body": "hi", "deleteId": 2},
        ["1", "2"],
        generated=frozenset({"deleteId"}),
        parse=parse_send_response,
    )
    assert base.canonical(100) == same.canonical(100)
    assert base.canonical(100) != base.canonical(1)
    assert base.canonical(100) != PreparedSend(
        "v1/messages",
        {"body": "hi!", "deleteId": 1},
        ["1", "2"],
        generated=frozenset({"deleteId"}),
        parse=parse_send_response,
    ).canonical(100)
    assert base.canonical(100) != PreparedSend(
        "v1/messages",
        {"body": "hi", "deleteId": 1},
        ["2", "1"],
        generated=frozenset({"deleteId"}),
        parse=parse_send_response,
    ).canonical(100)
    assert base.with_generated({"deleteId": 9}).fields["deleteId"] == 9


def test_moved_names_still_work_with_a_warning():
    import importlib
    import sys

    from taqnyat_provider.core import delivery, retry

    with pytest.warns(DeprecationWarning, match="moved to taqnyat_provider.core.retry.parse_retry_after"):
        assert delivery.parse_retry_after is retry.parse_retry_after
    sys.modules.pop("taqnyat_provider.sends", None)
    with pytest.warns(DeprecationWarning, match="taqnyat_provider.core.sending"):
        sends = importlib.import_module("taqnyat_provider.sends")
    from taqnyat_provider.core.endpoints.voice import VoiceCall

    assert sends.VoiceCall is VoiceCall


class TestSendResponses:
    def test_body_status_code_contradicting_http_200_is_not_a_refusal(self):
        with pytest.raises(exc.TaqnyatResponseError, match="Contradictory answer") as raised:
            parse_send_response(200, '{"statusCode": 400, "message": "Bad recipients"}', ["966500000000"])
        assert raised.value.http_status == 200
        assert "Bad recipients" in str(raised.value)

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


def test_a_prepared_send_made_without_a_parser_reads_the_send_answer():
    # 0.2.0 made PreparedSend(endpoint, fields, recipients) with no parser: it still reads answers.
    prepared = PreparedSend("voiceSend.php/", {"audioUrl": "https://a/x.mp3"}, ["966500000000"])
    result = prepared.parse(
        201, b'{"statusCode": 201, "messageId": "m", "rejectedNumber": "[]"}', ["966500000000"]
    )
    assert (result.message_id, result.accepted, result.currency) == ("m", ["966500000000"], None)
