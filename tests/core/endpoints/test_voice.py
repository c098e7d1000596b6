"""The voice endpoint (core/endpoints/voice.py): the audio URL it accepts and the answers to a call."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core import error_codes
from taqnyat_provider.core.endpoints.voice import check_audio_url
from taqnyat_provider.core.sending import parse_send_response
from taqnyat_provider.exceptions import InvalidInputError
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


class TestSendResponses:
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


def test_every_catalog_code_has_a_class():
    assert set(EXPECTED_CLASSES) == set(error_codes.CATALOG)


class TestAudioUrl:
    def test_accepts_https(self):
        assert check_audio_url(" https://cdn.example.com/alert.mp3 ") == "https://cdn.example.com/alert.mp3"

    @pytest.mark.parametrize(
        "value",
        [
            None,
            "",
            "alert.mp3",
            "/audio/alert.mp3",
            "ftp://example.com/a.mp3",
            "https://",
            "https://exa mple.com/a.mp3",
            "https://example.com/a.mp3\r\nX: y",
            42,
            "https://example.com/" + "a" * 3000,
        ],
    )
    def test_rejects(self, value):
        with pytest.raises(InvalidInputError, match="audio_url"):
            check_audio_url(value)
