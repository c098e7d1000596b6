from __future__ import annotations

import pytest

from taqnyat_provider.core.recipients import (
    MAX_RECIPIENTS,
    normalize_caller_id,
    normalize_number,
    normalize_recipients,
    split_recipients,
)
from taqnyat_provider.exceptions import InvalidInputError, InvalidRecipientsError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+966 50 000 0000", "966500000000"),
        ("00966500000000", "966500000000"),
        ("966-50-000-0000", "966500000000"),
        ("(966) 50.000.0000", "966500000000"),
        ("966500000000", "966500000000"),
        (966500000000, "966500000000"),
        ("+20 100 123 4567", "201001234567"),
        ("\u200e+966 51 234 5678", "966512345678"),
        ("+39 06 6982 1234", "390669821234"),  # the leading zero is part of an Italian number
    ],
)
def test_normalizes_to_international_digits(raw, expected):
    assert normalize_recipients([raw]) == [expected]


def test_local_number_needs_region():
    with pytest.raises(InvalidRecipientsError, match="default_region"):
        normalize_recipients(["0500000000"])
    assert normalize_recipients(["0500000000", "050 000 0001"], default_region="SA") == [
        "966500000000",
        "966500000001",
    ]


def test_duplicates_removed_in_order():
    assert normalize_recipients(["966511111111", "+966500000000", "00966511111111", "966500000000"]) == [
        "966511111111",
        "966500000000",
    ]


def test_every_invalid_entry_is_named():
    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients(["966500000000", "12345", "abc", "+966 50 000 000"])
    assert raised.value.invalid == ["12345", "abc", "+966 50 000 000"]
    for bad in ("'12345'", "'abc'", "'+966 50 000 000'"):
        assert bad in str(raised.value)
    assert "nothing was sent" in str(raised.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("966500000000, 966511111111", ["966500000000", "966511111111"]),
        ("966500000000\n966511111111\n", ["966500000000", "966511111111"]),
        ("966500000000;966511111111", ["966500000000", "966511111111"]),
        (("966500000000",), ["966500000000"]),
        ({"966511111111", "966500000000"}, ["966500000000", "966511111111"]),
        ("['966500000000', '966511111111']", ["966500000000", "966511111111"]),
        ('["966500000000", 966511111111]', ["966500000000", "966511111111"]),
        ("[966500000000]", ["966500000000"]),
    ],
)
def test_accepted_input_shapes(value, expected):
    assert split_recipients(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "recipients is None"),
        ("None", "recipients is None"),
        ("[]", "recipients is empty"),
        ([], "recipients is empty"),
        ("", "recipients is empty"),
        (" , \n", "recipients is empty"),
        (True, "must be phone numbers"),
        ({"a": 1}, "must be a list"),
        (3.5, "must be a list"),
    ],
)
def test_bad_shapes(value, message):
    with pytest.raises(InvalidInputError, match=message):
        normalize_recipients(value)


@pytest.mark.parametrize("entry", [None, 9.66e11, b"966500000000", ["966500000000"]])
def test_non_number_entries(entry):
    with pytest.raises(InvalidRecipientsError, match="not a phone number"):
        normalize_recipients(["966500000000", entry])


@pytest.mark.parametrize(
    "written",
    [
        "٩٦٦٥٠٠٠٠٠٠٠٠",  # Arabic-Indic (U+0660-0669), as Saudi keyboards type them
        "+٩٦٦ ٥٠ ٠٠٠ ٠٠٠٠",
        "٠٠٩٦٦٥٠٠٠٠٠٠٠٠",  # the 00 prefix in Arabic-Indic digits
        "۹۶۶۵۰۰۰۰۰۰۰۰",  # Eastern Arabic-Indic / Persian (U+06F0-06F9)
        "\uff0b\uff19\uff16\uff16\uff15\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",  # fullwidth, plus sign too
        "+९६६५००००००००",  # Devanagari
        "\u200f+966\u00a050\u2011000\u20130000",  # RLM, no-break space, non-breaking hyphen, en dash
        "٩٦٦-٥٠-000-0000",  # scripts mixed
        "966\u202f50\u3000000\u00ad0000",  # narrow no-break and ideographic spaces, soft hyphen
    ],
)
def test_unicode_digits_become_ascii_international_digits(written):
    assert normalize_recipients([written]) == ["966500000000"]


def test_local_number_in_arabic_indic_digits():
    assert normalize_recipients(["٠٥٠٠٠٠٠٠٠٠"], default_region="SA") == ["966500000000"]


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("+966 ²00000000", "not digits: '²'"),  # a superscript is no decimal digit (phonenumbers agrees)
        ("9665O0000000", "not digits: 'O'"),
        ("1-800-FLOWERS", "not digits"),  # letters are refused, never read as a keypad
        ("966\u2028500000000", "line break"),
        ("966\x0b500000000", "line break"),
        ("966500000000\x00", "not digits"),
        ("+", "no digits"),
        ("٩٦٦٥", "valid"),  # too short, whatever its script
    ],
)
def test_what_phonenumbers_does_not_read_is_still_refused(written, reason):
    with pytest.raises(InvalidRecipientsError, match=reason):
        normalize_recipients([written])


def test_huge_list_rejected_before_validation():
    with pytest.raises(InvalidInputError, match=str(MAX_RECIPIENTS)):
        normalize_recipients(["966500000000"] * (MAX_RECIPIENTS + 1))


def test_newline_injection_is_split_not_sent():
    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients(["966500000000\r\nX-Injected: 1"])
    assert raised.value.invalid == ["X-Injected: 1"]


class TestCallerId:
    def test_normalized(self):
        assert normalize_caller_id("+966 50 000 0001") == "966500000001"

    @pytest.mark.parametrize(
        "value",
        [
            "٩٦٦٥٠٠٠٠٠٠٠١",
            "\uff0b\uff19\uff16\uff16\uff15\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff11",
            " 966500000001\n",
        ],
    )
    def test_unicode_digits_and_surrounding_whitespace(self, value):
        assert normalize_caller_id(value) == "966500000001"

    def test_line_break_inside_refused(self):
        with pytest.raises(InvalidInputError, match="line break"):
            normalize_caller_id("966500000001\r\nX-Evil: 1")

    @pytest.mark.parametrize("value", [None, "", "  "])
    def test_missing(self, value):
        with pytest.raises(InvalidInputError, match="No caller_id"):
            normalize_caller_id(value)

    @pytest.mark.parametrize("value", ["MyBrand", "9665O0000001", "12"])
    def test_invalid_named(self, value):
        with pytest.raises(InvalidInputError, match=f"Invalid caller_id '{value}'"):
            normalize_caller_id(value)


def test_every_regions_example_numbers_round_trip():
    # Whatever a country's numbering rules (leading zeros, lengths), a valid number comes back as it
    # was given, in international digits: never a different number.
    import phonenumbers

    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None or not phonenumbers.is_valid_number(example):
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            assert normalize_number(e164) == e164[1:], (region, e164)
            assert normalize_number("00" + e164[1:]) == e164[1:]
            checked += 1
    assert checked > 300
