"""
Phone numbers: recipients and caller IDs, normalized to Taqnyat's international digits.

Every check runs before any request, and a bad value is named in the error. No Airflow and no I/O;
``phonenumbers`` is imported on first use so that importing an operator stays cheap.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from taqnyat_provider.exceptions import InvalidInputError, InvalidRecipientsError

# What may stand between the digits of a number: the spaces of every script (not line breaks), the
# invisible marks that Arabic and mixed-direction text carries (soft hyphen, zero-width space, word
# joiner, LRM, RLM, ALM), and dashes, dots, slashes and parentheses in their ASCII, Unicode and
# fullwidth forms, as ``phonenumbers`` allows them. Letters are never dropped: "1-800-FLOWERS" is
# refused, not dialled.
_SEPARATORS = re.compile(
    "["
    "\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"  # spaces
    "\u00ad\u200b\u2060\u200e\u200f\u061c"  # invisible marks
    "\\-\u2010-\u2015\u2212\uff0d.\uff0e/\uff0f()\uff08\uff09"  # dashes, dots, slashes, parentheses
    "]+"
)
_PLUS_SIGNS = "+\uff0b"  # ASCII and fullwidth
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_LIST_SPLIT = re.compile(r"[,;\n\r]+")
MAX_RECIPIENTS = 100_000


def _list_literal(text: str) -> list[Any]:
    """A list that a template rendered to text: ``['9665…', '9665…']`` (Python) or ``["9665…"]`` (JSON)."""
    import ast

    try:
        parsed = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return [text.strip().strip("[]")]
    return list(parsed) if isinstance(parsed, (list, tuple)) else [text]


def split_recipients(value: Any) -> list[str]:
    """
    Flatten what a user may pass as recipients into a list of raw entries.

    Accepts a list, tuple or set (of strings or integers), one string separated by commas,
    semicolons or new lines, or a list rendered to text by a template. A set has no order, so its
    entries are sorted to keep sends repeatable.
    """
    if value is None or (isinstance(value, str) and value.strip() == "None"):
        raise InvalidInputError("recipients is None: give at least one phone number")
    if isinstance(value, bool):
        raise InvalidInputError(f"recipients must be phone numbers, got {value!r}")
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        items = _list_literal(value)
    elif isinstance(value, (str, int)):
        items = [value]
    elif isinstance(value, (set, frozenset)):
        items = sorted(value, key=str)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise InvalidInputError(
            f"recipients must be a list or a comma/newline-separated string, got {type(value).__name__}: "
            f"{value!r:.100}"
        )
    entries: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InvalidRecipientsError([(item, f"not a phone number ({type(item).__name__})")])
        if isinstance(item, int):
            entries.append(str(item))
        else:
            entries.extend(part.strip() for part in _LIST_SPLIT.split(item) if part.strip())
    if len(entries) > MAX_RECIPIENTS:
        raise InvalidInputError(
            f"{len(entries)} recipients is more than the {MAX_RECIPIENTS} allowed in one task"
        )
    return entries


def _ascii_digits(digits: str) -> str:
    """Decimal digits of any script (Arabic-Indic ``٩٦٦``, Persian ``۹۶۶``, fullwidth U+FF10 to U+FF19...) in ASCII."""
    return digits if digits.isascii() else "".join(str(unicodedata.decimal(char)) for char in digits)


def normalize_number(entry: str, default_region: str | None = None) -> str:
    """
    Return ``entry`` in Taqnyat's format: international ASCII digits without ``+`` or ``00``.

    Spaces, dashes, dots and parentheses are dropped; digits of any script that ``phonenumbers``
    reads (Arabic-Indic, Eastern Arabic-Indic, fullwidth, and every other Unicode decimal digit)
    become ASCII digits. Letters, line breaks and any other character are refused. A local number
    (leading 0) needs ``default_region``. Raises ValueError with the reason when the number is not
    valid.
    """
    import phonenumbers

    if any(char in _LINE_BREAKS for char in entry):
        raise ValueError("contains a line break")
    compact = _SEPARATORS.sub("", entry)
    if not compact:
        raise ValueError("empty")
    international = compact[0] in _PLUS_SIGNS
    written = compact[1:] if international else compact
    if not written.isdecimal():
        non_digits = sorted({char for char in written if not char.isdecimal()})
        if not non_digits:
            raise ValueError("no digits after the +")
        raise ValueError(f"contains characters that are not digits: {''.join(non_digits)!r}")
    digits = _ascii_digits(written)
    local = False
    if not international and digits.startswith("00"):
        digits = digits[2:]
    elif not international and digits.startswith("0"):
        local = True
    if local:
        if not default_region:
            raise ValueError("a local number (leading 0) needs default_region, e.g. default_region='SA'")
        try:
            parsed = phonenumbers.parse(digits, default_region.upper())
        except phonenumbers.NumberParseException as error:
            raise ValueError(str(error)) from None
    else:
        try:
            parsed = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException as error:
            raise ValueError(str(error)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    # E.164 keeps the national number's leading zeros (Italy: +39 06...), which national_number drops.
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


def normalize_recipients(value: Any, default_region: str | None = None) -> list[str]:
    """
    Split, normalize, validate and de-duplicate recipients, keeping their order.

    Raises InvalidRecipientsError naming every bad entry, or InvalidInputError when there is none.
    """
    entries = split_recipients(value)
    if not entries:
        raise InvalidInputError("recipients is empty: give at least one phone number")
    numbers: list[str] = []
    seen: set[str] = set()
    problems: list[tuple[object, str]] = []
    for entry in entries:
        try:
            number = normalize_number(entry, default_region)
        except ValueError as error:
            problems.append((entry, str(error)))
            continue
        if number not in seen:
            seen.add(number)
            numbers.append(number)
    if problems:
        raise InvalidRecipientsError(problems)
    return numbers


def normalize_caller_id(value: Any) -> str:
    """A voice caller ID: a valid international number, returned in ASCII digits without ``00`` or ``+``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInputError(
            "No caller_id: pass caller_id to the task or set the 'caller_id' extra on the connection"
        )
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInputError(
            f"caller_id must be a phone number, got {type(value).__name__}: {value!r:.100}"
        )
    try:
        # Whitespace around it (a template's last new line) goes; a line break inside is refused.
        return normalize_number(str(value).strip())
    except ValueError as error:
        raise InvalidInputError(f"Invalid caller_id {value!r}: {error}") from None
