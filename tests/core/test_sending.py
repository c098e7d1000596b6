from __future__ import annotations

import pytest

from taqnyat_provider.core.endpoints.voice import check_audio_url
from taqnyat_provider.core.sending import PreparedSend, parse_send_response
from taqnyat_provider.exceptions import InvalidInputError


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
