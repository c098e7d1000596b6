"""
How many SMS parts the sandbox bills for a body (the ``msgLength`` of its answer), from GSM 03.38.

Written here and not imported from the client (``taqnyat_provider.core.sms_text``): the sandbox plays the
network, so a counting mistake in the client must show up as a disagreement, not be echoed back.
``tests/sandbox/test_independence.py`` compares the two on a corpus.

The rules: a body made only of characters of the GSM 7-bit default alphabet travels as GSM-7,
160 septets in one SMS, 153 per part once split (the user data header takes 7); a character of the
extension table is sent as ESC plus a second septet, so it costs 2 and its two septets stay in one
part. Any other character makes the whole body UCS-2: 70 UTF-16 code units in one SMS, 67 per part;
a character beyond the Basic Multilingual Plane (most emoji) is a surrogate pair, 2 units that stay
in one part. Grapheme clusters (an emoji ZWJ sequence, a letter and its diacritics) may be split
between parts: a network splits code units, not what the reader sees as one character.
"""

from __future__ import annotations

from collections.abc import Iterable

# The default alphabet, position by position from 0x00 to 0x7F; 0x1B is the escape to the
# extension table, never a character of its own (written here as None).
_DEFAULT_ALPHABET: tuple[str | None, ...] = (
    *"@£$¥èéùìòÇ\nØø\rÅå",
    *"Δ_ΦΓΛΩΠΨΣΘΞ",
    None,
    *"ÆæßÉ",
    *" !\"#¤%&'()*+,-./",
    *"0123456789:;<=>?",
    *"¡ABCDEFGHIJKLMNO",
    *"PQRSTUVWXYZÄÖÑÜ§",
    *"¿abcdefghijklmno",
    *"pqrstuvwxyzäöñüà",
)
assert len(_DEFAULT_ALPHABET) == 128

# The extension table's characters by their position after ESC.
_EXTENSION_TABLE: dict[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_SEPTETS: dict[str, int] = {char: 1 for char in _DEFAULT_ALPHABET if char is not None}
_SEPTETS.update({char: 2 for char in _EXTENSION_TABLE.values()})

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def _parts(costs: Iterable[int], single: int, part: int) -> tuple[int, int]:
    """``(units, parts)``: the whole cost, and the parts when no character is cut in two."""
    costs = list(costs)
    units = sum(costs)
    if units <= single:
        return units, 1
    parts, room = 1, part
    for cost in costs:
        if cost > room:
            parts, room = parts + 1, part
        room -= cost
    return units, parts


def count_parts(body: str) -> tuple[str, int, int]:
    """``(encoding, units, parts)`` for ``body``: ``"GSM-7"`` or ``"UCS-2"``, septets or UTF-16 units."""
    septets = [_SEPTETS.get(char) for char in body]
    if None not in septets:
        units, parts = _parts((cost or 0 for cost in septets), GSM7_SINGLE, GSM7_PART)
        return "GSM-7", units, parts
    units, parts = _parts((len(char.encode("utf-16-le")) // 2 for char in body), UCS2_SINGLE, UCS2_PART)
    return "UCS-2", units, parts
