"""SMS rules and the send descriptions: every bad value named, segments counted as the network bills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taqnyat_provider.core.endpoints.sms import SMS_ENDPOINT, SmsMessage
from taqnyat_provider.core.endpoints.voice import VOICE_ENDPOINT, VoiceCall
from taqnyat_provider.core.sms_text import (
    MAX_SEGMENTS,
    check_body,
    check_delete_id,
    check_sender,
    measure_sms,
    schedule_for_api,
)
from taqnyat_provider.exceptions import InvalidInputError, InvalidRecipientsError

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 09:00 in Riyadh
ALICE = "966500000000"


@dataclass
class Defaults:
    caller_id: str | None = "966500000001"
    sender: str | None = "Taqnyat.sa"


# --------------------------------------------------------------------------------------------------
# Segments


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("{" * 81, "GSM-7", 162, 2),
        ("Ünïcödé? no: ï is not GSM", "UCS-2", 25, 1),
        ("ب" * 70, "UCS-2", 70, 1),
        ("ب" * 71, "UCS-2", 71, 2),
        ("ب" * 134, "UCS-2", 134, 2),
        ("ب" * 135, "UCS-2", 135, 3),
        ("🚨" * 35, "UCS-2", 70, 1),
        ("🚨" * 36, "UCS-2", 72, 2),
    ],
)
def test_measure(body, encoding, units, segments):
    length = measure_sms(body)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)
    assert length.characters == len(body)


def test_an_escape_pair_is_never_split_across_parts():
    # 152 plain characters then "€": the pair does not fit in part one's last septet.
    assert measure_sms("a" * 152 + "€" + "a" * 10).segments == 2
    assert measure_sms("a" * 152 + "€" + "a" * 152).segments == 3


def test_an_emoji_is_never_split_across_parts():
    assert measure_sms("ب" * 66 + "🚨" + "ب" * 66).segments == 3


@given(st.text(min_size=1, max_size=800))
def test_segments_grow_with_units(body):
    length = measure_sms(body)
    per_part = 153 if length.encoding == "GSM-7" else 67
    single = 160 if length.encoding == "GSM-7" else 70
    if length.units <= single:
        assert length.segments == 1
    else:
        assert length.segments >= -(-length.units // per_part)


# --------------------------------------------------------------------------------------------------
# Body, sender, delete id


def test_body_keeps_new_lines_and_arabic():
    assert check_body("مرحبا\nline two\r\n\tend") == "مرحبا\nline two\r\n\tend"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "SMS body is None"),
        ("", "SMS body is empty"),
        ("  \n ", "SMS body is empty"),
        (42, "SMS body must be text, got int: 42"),
        ("ok\x00bad", r"control character '\\x00' at position 2"),
        ("bell\x07", r"'\\x07'"),
        ("a" * (153 * MAX_SEGMENTS + 1), "11 SMS parts"),
        ("ب" * (67 * MAX_SEGMENTS + 1), "UCS-2"),
    ],
)
def test_bad_bodies(value, message):
    with pytest.raises(InvalidInputError, match=message):
        check_body(value)


@pytest.mark.parametrize("value", ["Taqnyat.sa", "My Brand", "BANK-1", "A&B_Co", "12345"])
def test_good_senders(value):
    assert check_sender(f" {value} ") == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "No sender"),
        ("   ", "No sender"),
        ("TwelveChars1", "Invalid sender 'TwelveChars1'"),
        ("Brand\r\nX-Header: 1", "Invalid sender"),
        ("تقنيات", "Invalid sender 'تقنيات'"),
        ("-Brand", "Invalid sender"),
        (["Brand"], "sender must be text, got list"),
    ],
)
def test_bad_senders(value, message):
    with pytest.raises(InvalidInputError, match=message):
        check_sender(value)


@pytest.mark.parametrize(("value", "expected"), [(1234, 1234), ("  987 ", 987), ("1" * 18, int("1" * 18))])
def test_delete_ids(value, expected):
    assert check_delete_id(value) == expected


@pytest.mark.parametrize("value", [0, -5, "12a", "", None, True, 1.5, "1" * 19, "٣٤٥"])
def test_bad_delete_ids(value):
    with pytest.raises(InvalidInputError, match="delete_id must be a positive whole number"):
        check_delete_id(value)


# --------------------------------------------------------------------------------------------------
# Schedule


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 28, 7, 30, tzinfo=UTC),
        pendulum.datetime(2026, 11, 28, 7, 30, tz="UTC"),
        pendulum.datetime(2026, 11, 28, 10, 30, tz="Asia/Riyadh"),
        "2026-11-28T07:30:00Z",
        "2026-11-28T07:30:00+00:00",
        "2026-11-28T10:30+03:00",
        "2026-11-28 09:30:00+02:00",
    ],
)
def test_schedule_is_saudi_local_time_to_the_minute(value):
    assert schedule_for_api(value, now=NOW) == "2026-11-28T10:30"


def test_schedule_rounds_seconds_up_never_early():
    assert schedule_for_api("2026-11-28T07:30:01Z", now=NOW) == "2026-11-28T10:31"
    assert schedule_for_api("2026-11-28T20:59:30Z", now=NOW) == "2026-11-29T00:00"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (datetime(2026, 11, 28, 10, 30), "has no timezone"),
        ("2026-11-28T10:30", "has no timezone"),
        ("tomorrow morning", "'tomorrow morning' is not an ISO 8601"),
        ("", "got ''"),
        ("None", "'None' is not an ISO 8601"),
        (1764316800, "timezone-aware datetime or ISO 8601 text, got 1764316800"),
        ("2026-11-28T05:59:00Z", "is not in the future"),
        (NOW, "is not in the future"),
    ],
)
def test_bad_schedules(value, message):
    with pytest.raises(InvalidInputError, match=message):
        schedule_for_api(value, now=NOW)


# --------------------------------------------------------------------------------------------------
# Send descriptions


def test_sms_prepare_uses_the_connection_sender_and_describes_the_body():
    prepared = SmsMessage("مرحبا", "+966 50 000 0000").prepare(Defaults())
    assert prepared.endpoint == SMS_ENDPOINT
    assert prepared.payload(prepared.recipients) == {
        "recipients": [ALICE],
        "body": "مرحبا",
        "sender": "Taqnyat.sa",
    }
    assert prepared.summary == {"message_length": 5, "segments": 1, "encoding": "UCS-2"}


def test_scheduled_sms_carries_one_delete_id_for_every_batch():
    prepared = SmsMessage("hi", [ALICE, "966512345678"], "Brand", "2026-11-28T08:00Z").prepare(
        Defaults(), now=NOW
    )
    delete_id = prepared.fields["deleteId"]
    assert isinstance(delete_id, int) and delete_id > 0
    assert prepared.payload([ALICE])["deleteId"] == prepared.payload(["966512345678"])["deleteId"]
    assert prepared.fields["scheduledDatetime"] == "2026-11-28T11:00"
    assert prepared.summary["delete_id"] == delete_id
    assert prepared.summary["scheduled_at"] == "2026-11-28T11:00"


def test_given_delete_id_is_kept():
    prepared = SmsMessage("hi", [ALICE], scheduled_at=NOW + timedelta(hours=1), delete_id="77").prepare(
        Defaults(), now=NOW
    )
    assert prepared.fields["deleteId"] == 77


def test_sms_without_any_sender():
    with pytest.raises(InvalidInputError, match="No sender"):
        SmsMessage("hi", [ALICE]).prepare(Defaults(sender=None))


def test_sms_checks_everything_and_names_each_bad_recipient():
    with pytest.raises(InvalidRecipientsError) as raised:
        SmsMessage("hi", [ALICE, "12", "abc"]).prepare(Defaults())
    assert {entry for entry, _ in raised.value.problems} == {"12", "abc"}


def test_voice_prepare_falls_back_to_the_connection_caller_id():
    prepared = VoiceCall("https://x.example/a.mp3", [ALICE]).prepare(Defaults())
    assert prepared.endpoint == VOICE_ENDPOINT
    assert prepared.fields == {"callerId": "966500000001", "audioUrl": "https://x.example/a.mp3"}
    assert prepared.summary == {}
