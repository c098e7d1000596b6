"""
The fast path copies private rules of ``phonenumbers`` (``_number_type_helper``, ``_MIN_LENGTH_FOR_NSN``
...). A release without one of them must not break recipients: the fast path turns itself off and the
public ``parse`` / ``is_valid_number`` / ``format_number`` decide every number, with the same answers.

Deleting a private function from ``phonenumbers.phonenumberutil`` itself would break ``phonenumbers``
too (its public functions call it by its global name), which is not what a release that renamed it
looks like. So the release is played by a copy of the module, with the name deleted, installed where
an import finds it (``phonenumbers.phonenumberutil`` and ``sys.modules``); ``phonenumbers``' own
functions keep their real module.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import phonenumbers
import pytest
from phonenumbers import phonemetadata, phonenumberutil

from taqnyat_provider.core import recipients
from taqnyat_provider.exceptions import InvalidRecipientsError

SAUDI_VALID = [
    "966501234567",  # mobile, international digits
    "966551234567",
    "966591234567",
    "966112345678",  # Riyadh landline
    "966920012345",  # unified number
    "9668001234567",  # toll free
    "+966 50 123 4567",
    "00966501234567",
    "(+966) 50-123-4567",
    "٩٦٦٥٠١٢٣٤٥٦٧",  # Arabic-Indic digits
    "۹۶۶۵۰۱۲۳۴۵۶۷",  # Persian digits
    "0501234567",  # local, with default_region SA
    "٠٥٠١٢٣٤٥٦٧",
]
SAUDI_INVALID = [
    "966101234567",
    "96650123456",  # one digit short
    "9665012345678",  # one digit long
    "966",
    "9660501234567",  # the national 0 kept after the calling code
    "920012345",
    "0501234567x",
    "966 50 123 4567\n966500000000",
    "05",
]
INTERNATIONAL_VALID = [
    "447400123456",  # United Kingdom mobile
    "14155552671",  # United States
    "12025550123",
    "971501234567",  # United Arab Emirates
    "201001234567",  # Egypt
    "919876543210",  # India
    "393123456789",  # Italy, mobile
    "390612345678",  # Italy, a fixed line keeps its leading 0 in E.164
    "5491123456789",  # Argentina: its national prefix rule sends it the full way either way
    "+1 (415) 555-2671",
    "+٩٧١٥٠١٢٣٤٥٦٧",
]
INTERNATIONAL_INVALID = ["447400", "1415555267", "99912345678", "2", "1234567890123456789", "+", "00"]
CORPUS = SAUDI_VALID + SAUDI_INVALID + INTERNATIONAL_VALID + INTERNATIONAL_INVALID


def _each(entries: list[str]) -> list[str]:
    """``normalize_number`` on every entry: the number, or the error's words."""
    results = []
    for entry in entries:
        try:
            results.append(recipients.normalize_number(entry, "SA"))
        except ValueError as error:
            results.append(f"ValueError: {error}")
    return results


def _lists() -> list[Any]:
    """``normalize_recipients`` on the lists a task is given: the bulk path, the mixed path, errors."""
    saudi_bulk = [f"9665{prefix}{n:07d}" for prefix in "0345689" for n in range(0, 7_000_000, 700_001)]
    answers: list[Any] = []
    for value in (
        saudi_bulk,
        [*saudi_bulk, "966101234567"],
        INTERNATIONAL_VALID * 2,
        SAUDI_VALID + INTERNATIONAL_VALID,
        CORPUS,
        ", ".join(SAUDI_VALID[:6]),
    ):
        try:
            answers.append(recipients.normalize_recipients(value, "SA"))
        except InvalidRecipientsError as error:
            answers.append(("InvalidRecipientsError", error.invalid, str(error)))
    return answers


def _with_fast_path() -> tuple[list[str], list[Any]]:
    recipients._reset_fast_path()
    results = _each(CORPUS), _lists()
    # The comparison means something only if the fast path really took the numbers here.
    assert recipients._fast_international("966501234567") == "966501234567"
    return results


EXPECTED_EACH, EXPECTED_LISTS = _with_fast_path()


@pytest.fixture
def count_public_validation(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many times ``phonenumbers.is_valid_number`` (the public API) was asked."""
    calls = []
    real = phonenumbers.is_valid_number

    def counted(number: Any) -> bool:
        calls.append(number)
        return real(number)

    monkeypatch.setattr(phonenumbers, "is_valid_number", counted)
    return lambda: len(calls)


def _install_release(monkeypatch: pytest.MonkeyPatch, package_attr: str, module: types.ModuleType) -> None:
    monkeypatch.setattr(phonenumbers, package_attr, module)
    monkeypatch.setitem(sys.modules, module.__name__, module)


def _copy(module: types.ModuleType) -> types.ModuleType:
    copy = types.ModuleType(module.__name__)
    copy.__dict__.update(module.__dict__)
    return copy


@pytest.fixture
def fresh_fast_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Set up after monkeypatch, so torn down before it undoes: the rules are forgotten while the
    # release is still in place, and the next test compiles them from the real phonenumbers.
    recipients._reset_fast_path()
    yield
    recipients._reset_fast_path()


def _assert_public_api_decides(count_public_validation: Callable[[], int]) -> None:
    assert recipients._fast_international("966501234567") is None
    assert recipients._calling_codes == {}  # the fast path is off for every calling code
    assert _each(CORPUS) == EXPECTED_EACH
    assert _lists() == EXPECTED_LISTS
    # Every valid entry went through the public is_valid_number (the lists ask again per list).
    assert count_public_validation() >= len(SAUDI_VALID) + len(INTERNATIONAL_VALID)


@pytest.mark.parametrize("name", sorted(recipients._MIRRORED))
def test_a_release_without_a_mirrored_name_falls_back_to_the_public_api(
    name, monkeypatch, fresh_fast_path, count_public_validation
):
    release = _copy(phonenumberutil)
    monkeypatch.delattr(release, name)
    _install_release(monkeypatch, "phonenumberutil", release)
    recipients._reset_fast_path()
    _assert_public_api_decides(count_public_validation)


@pytest.mark.parametrize(("name", "value"), [("_MIN_LENGTH_FOR_NSN", 3), ("_MAX_LENGTH_FOR_NSN", 18)])
def test_a_release_that_changes_a_mirrored_constant_falls_back(
    name, value, monkeypatch, fresh_fast_path, count_public_validation
):
    release = _copy(phonenumberutil)
    monkeypatch.setattr(release, name, value)
    _install_release(monkeypatch, "phonenumberutil", release)
    recipients._reset_fast_path()
    _assert_public_api_decides(count_public_validation)


@pytest.mark.parametrize("lookup", recipients._METADATA_LOOKUPS)
def test_a_release_without_a_metadata_lookup_falls_back(
    lookup, monkeypatch, fresh_fast_path, count_public_validation
):
    release = _copy(phonemetadata)
    remaining = {
        key: value
        for key, value in vars(phonemetadata.PhoneMetadata).items()
        if key not in ("__dict__", "__weakref__", lookup)
    }
    release.PhoneMetadata = type("PhoneMetadata", (), remaining)  # type: ignore[attr-defined]
    _install_release(monkeypatch, "phonemetadata", release)
    recipients._reset_fast_path()
    _assert_public_api_decides(count_public_validation)


def test_with_every_name_in_place_the_fast_path_answers_without_the_public_api(
    fresh_fast_path, count_public_validation
):
    # The other side of the spy: the fast path really skips is_valid_number for these numbers,
    # so the counts above show the fallback, not a path that always asked.
    assert _each(SAUDI_VALID[:6] + INTERNATIONAL_VALID[:8]) == EXPECTED_EACH[:6] + [
        EXPECTED_EACH[len(SAUDI_VALID) + len(SAUDI_INVALID) + i] for i in range(8)
    ]
    assert count_public_validation() == 0


def test_the_mirror_is_back_once_the_release_is_gone(monkeypatch, fresh_fast_path):
    release = _copy(phonenumberutil)
    monkeypatch.delattr(release, "_number_type_helper")
    _install_release(monkeypatch, "phonenumberutil", release)
    recipients._reset_fast_path()
    assert recipients._fast_international("966501234567") is None
    monkeypatch.undo()
    recipients._reset_fast_path()
    assert recipients._fast_international("966501234567") == "966501234567"
