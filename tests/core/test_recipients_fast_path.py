"""
The fast path for international digits against ``phonenumbers`` itself: it may only ever say what the
full ``parse`` + ``is_valid_number`` + E.164 path says, on every region's example numbers and on
random digits for every calling code; and it must actually take the common numbers.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberFormat, PhoneNumberType

from taqnyat_provider.core.recipients import _fast_international, normalize_number, normalize_recipients


def full_way(digits: str) -> str | None:
    """What ``phonenumbers`` makes of ``+digits``: its E.164 digits when valid, else None."""
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)[1:]


def example_numbers() -> list[str]:
    numbers = []
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in PhoneNumberType.values():
                if region == "001":
                    example = phonenumbers.example_number_for_non_geo_entity(code)
                else:
                    example = phonenumbers.example_number_for_type(region, kind)
                if example is not None:
                    numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164)[1:])
    return sorted(set(numbers))


EXAMPLES = example_numbers()


def test_every_example_number_is_read_as_phonenumbers_reads_it():
    taken = 0
    for digits in EXAMPLES:
        fast = _fast_international(digits)
        if fast is not None:
            taken += 1
            assert fast == full_way(digits) == digits, digits
    # The fast path is not a formality: nearly every valid number takes it.
    assert taken / len(EXAMPLES) > 0.85, (taken, len(EXAMPLES))


@pytest.mark.parametrize("seed", range(3))
def test_random_and_mutated_digits_never_disagree(seed):
    rng = random.Random(seed)
    candidates = []
    for code in COUNTRY_CODE_TO_REGION_CODE:
        for _ in range(40):
            length = rng.randint(1, 18)
            candidates.append(f"{code}{rng.randrange(10**length):0{length}d}")
    for digits in EXAMPLES:  # one digit changed, added or dropped: near-valid numbers
        position = rng.randrange(1, len(digits))
        candidates.append(digits[:position] + str(rng.randrange(10)) + digits[position + 1 :])
        candidates.append(digits + str(rng.randrange(10)))
        candidates.append(digits[:-1])
    disagreements = []
    for digits in candidates:
        if digits[0] == "0":
            continue
        fast = _fast_international(digits)
        if fast is not None and fast != full_way(digits):
            disagreements.append(digits)
    assert disagreements == []


@pytest.mark.parametrize(
    "entry",
    ["966500000000", "966 50 000 0000", "+966500000000", "00966500000000", "14155552671", "447400123456"],
)
def test_normalize_number_agrees_with_the_full_way(entry):
    digits = "".join(ch for ch in entry if ch.isdigit()).removeprefix("00")
    assert normalize_number(entry) == full_way(digits)


def test_numbers_a_national_prefix_could_be_stripped_from_take_the_full_way():
    # Argentina's national prefix for parsing matches the start of any number: parse decides.
    example = phonenumbers.example_number_for_type("AR", PhoneNumberType.MOBILE)
    digits = phonenumbers.format_number(example, PhoneNumberFormat.E164)[1:]
    assert _fast_international(digits) is None
    assert normalize_number(digits) == full_way(digits)


def test_invalid_numbers_are_worded_by_the_full_way_each_time_they_appear():
    with pytest.raises(ValueError, match="not a valid phone number"):
        normalize_number("966100000000")
    from taqnyat_provider.exceptions import InvalidRecipientsError

    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients(["966100000000", "966500000000", "966100000000"])
    assert raised.value.invalid == ["966100000000", "966100000000"]


def test_a_long_list_of_strings_splits_as_each_item_would():
    items = ["966500000001, 966500000002", " 966500000003 ;", "", "\n966500000004\r", "966500000001"]
    assert normalize_recipients(items) == [f"96650000000{n}" for n in range(1, 5)]
    assert normalize_recipients([*items, 966500000005]) == [f"96650000000{n}" for n in range(1, 6)]
