"""
Reading an answer's body: bytes to a JSON object, mending the loose JSON Taqnyat's examples show.

Taqnyat documents answers such as ``ResponseStatus: success`` (bare keys and words), trailing commas
and missing braces. :func:`decode_body` takes valid JSON as it is and mends only what is not, within
fixed bounds (``MAX_BODY_BYTES``, ``MAX_DEPTH``, ``MAX_LOOSE_TOKENS``), in time linear in the body's
length. What the fields mean is :mod:`~taqnyat_provider.core.wire`'s business.
"""

from __future__ import annotations

import json
import re
from itertools import chain
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from taqnyat_provider.core.errors import TaqnyatResponseError

_EXCERPT_CHARS = 200
MAX_BODY_BYTES = 1024 * 1024
"""
The longest answer body read or parsed, in bytes (1 MiB).

Taqnyat's answers are a few KB; the hooks stop reading past this and ``decode_body`` refuses a
longer body with ``TaqnyatResponseError``, so a hostile or broken server cannot hold a worker or the
triggerer's event loop.
"""


# --------------------------------------------------------------------------------------------------
# Body decoding
#
# Every step below is linear in the body's length: an answer is read by whoever sends it (a worker
# after a POST, the triggerer's event loop), so a long or hostile body must not hold either. The
# loose-JSON reader runs only when ``json.loads`` has failed, scans each character once (one regular
# expression per token, each of which cannot backtrack over more than its own token) and gives up at
# the first thing that is not loose JSON.

# One token of loose JSON but a string, matched at the reader's position only, after its whitespace.
# A number must not run on into letters or digits (``5452abc``): the reader then gives up rather than
# guess. Strings are scanned by ``json``'s own C scanner, which cannot backtrack.
_SPACE = re.compile(r"\s*")
_COLON = re.compile(r"\s*:")
_BARE_TOKEN = re.compile(
    r"""
      (?P<punct>[{}\[\],])
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_.\-]))
    | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
    """,
    re.VERBOSE,
)
_LITERALS = frozenset({"true", "false", "null"})
_LENIENT_JSON = json.JSONDecoder(strict=False)
"""``json.loads(text, strict=False)`` without building a decoder and its scanner for every answer."""
MAX_DEPTH = 64
"""
Deeper than any answer Taqnyat gives; a body nested further is refused, JSON or loose. Without a limit
of its own the outcome would depend on the Python: 3.11's C scanner gives up near 1,000 levels, 3.13's
reads 5,000 and more.
"""
_TOO_DEEP = object()
"""What the loose reader returns for a body nested deeper than ``MAX_DEPTH``."""


MAX_LOOSE_TOKENS = 10_000
"""
The most tokens read as loose JSON. Each costs about a microsecond of Python (the regular expression
runs in C, whatever the token's length: a long string is one token), so a hostile body stops within
about ten milliseconds. The reference's loose examples have some forty tokens, and a 1,000-number
answer has its lists as strings (one token each) or, as real arrays, some 2,000.
"""

# What the loose reader expects next.
_KEY, _VALUE, _AFTER_VALUE, _DONE = range(4)


def _read_loose_json(text: str) -> Any:
    """
    Read what Taqnyat's documented examples show, or return None.

    Mends bare keys and bare words (``ResponseStatus: success``), trailing commas, a missing
    opening brace and missing closers, by rewriting the tokens as JSON; anything else (two values in
    a row, a stray closer, a number running into letters, more than ``MAX_LOOSE_TOKENS`` tokens)
    gives None, and nesting deeper than ``MAX_DEPTH`` gives ``_TOO_DEEP``.
    """
    out: list[str] = []
    closers: list[str] = []  # the closer each open container needs, innermost last
    expect = _VALUE
    pending_comma = False  # a comma is written only once something follows it: trailing ones vanish
    text = text.strip()
    position, end = 0, len(text)
    tokens = 0
    while position < end:
        tokens += 1
        if tokens > MAX_LOOSE_TOKENS:
            return None
        space = _SPACE.match(text, position)
        position = space.end() if space else position
        if text.startswith('"', position):
            try:
                string_end = scanstring(text, position + 1, False)[1]
            except ValueError:  # unterminated, or a bad escape
                return None
            kind, value = "string", text[position:string_end]
            position = string_end
        else:
            token = _BARE_TOKEN.match(text, position)
            if token is None:
                return None
            kind, value = token.lastgroup or "", token.group()
            position = token.end()
        if kind in ("string", "word"):
            colon = _COLON.match(text, position)
            if colon:
                kind, position = "key", colon.end()
        if expect == _DONE:
            return None
        if not out:
            if value not in ("{", "[") and kind != "key":
                return None  # not an object, nor the inside of one
            if kind == "key":
                # The examples start inside the object, at its first key.
                out.append("{")
                closers.append("}")
                expect = _KEY
        if value in ("}", "]"):
            # A closer may end a container after a value, after a trailing comma, or when empty.
            empty = bool(out) and out[-1] in ("{", "[")
            if not closers or closers[-1] != value or not (expect == _AFTER_VALUE or pending_comma or empty):
                return None
            out.append(closers.pop())
            pending_comma = False
            expect = _AFTER_VALUE if closers else _DONE
            continue
        if value == ",":
            if expect != _AFTER_VALUE:
                return None
            pending_comma = True
            expect = _KEY if closers[-1] == "}" else _VALUE
            continue
        if pending_comma:
            out.append(",")
            pending_comma = False
        if expect == _KEY and kind == "key":
            out.append(value if value.startswith('"') else f'"{value}"')
            out.append(":")
            expect = _VALUE
        elif expect == _VALUE and kind != "key":
            if value in ("{", "["):
                if len(closers) >= MAX_DEPTH:
                    return _TOO_DEEP
                out.append(value)
                closers.append("}" if value == "{" else "]")
                expect = _KEY if value == "{" else _VALUE
            else:
                out.append(f'"{value}"' if kind == "word" and value not in _LITERALS else value)
                expect = _AFTER_VALUE
        else:
            return None
    if out and out[-1] == ":":
        return None
    out.extend(reversed(closers))
    try:
        return _LENIENT_JSON.decode("".join(out))
    except (ValueError, RecursionError):
        return None


def body_text(body: str | bytes | None, http_status: int | None) -> str:
    """
    The body as text, refusing one longer than ``MAX_BODY_BYTES``.

    Bytes are read as UTF-8 with ``errors="replace"``: a body that is not UTF-8 becomes text with
    U+FFFD in place of the bad bytes (and then fails as JSON if it matters), never a
    ``UnicodeDecodeError``.
    """
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        size = len(data)
        text = None
    elif isinstance(body, str):
        text = body
        # A character is one to four bytes: only a long text needs encoding to be measured.
        size = len(text) if len(text) * 4 <= MAX_BODY_BYTES else len(text.encode("utf-8", "surrogatepass"))
    else:
        raise TaqnyatResponseError(
            f"Response body is a {type(body).__name__}, not text or bytes", http_status=http_status
        )
    if size > MAX_BODY_BYTES:
        raise TaqnyatResponseError(
            f"Response body is longer than the {MAX_BODY_BYTES} bytes this provider reads",
            http_status=http_status,
        )
    return text if text is not None else data.decode("utf-8", errors="replace")


def _nested_deeper_than(value: Any, limit: int, text: str) -> bool:
    """
    Whether decoded JSON nests containers more than ``limit`` deep.

    Depth cannot pass the number of opening brackets in the text (counted in C, strings included, so
    an overestimate): a normal answer has a handful and is never walked. The walk goes a level at a
    time, at most ``limit`` levels, each level one comprehension over the one before (no recursion
    to run out of; a megabyte of small objects takes tens of milliseconds, not a Python loop each).
    """
    if not isinstance(value, (dict, list)) or text.count("[") + text.count("{") <= limit:
        return False
    level: list[Any] = [value]
    for _ in range(limit):
        contents = chain.from_iterable(
            container.values() if isinstance(container, dict) else container for container in level
        )
        level = [child for child in contents if isinstance(child, (dict, list))]
        if not level:
            return False
    return True


def decode_text(text: str, http_status: int | None) -> dict[str, Any]:
    text = text.strip().lstrip("\ufeff").strip()
    if not text:
        raise TaqnyatResponseError("Empty response body", http_status=http_status)
    if text.startswith("<"):
        raise TaqnyatResponseError(
            "HTML page instead of JSON", http_status=http_status, body_excerpt=excerpt(text)
        )
    try:
        decoded = _LENIENT_JSON.decode(text)
        too_deep = _nested_deeper_than(decoded, MAX_DEPTH, text)
    except RecursionError:  # deeper than this Python's scanner goes
        decoded, too_deep = None, True
    except ValueError:
        # Only a body that is not JSON is read as loose JSON: valid JSON is taken as it is.
        decoded = _read_loose_json(text)
        too_deep = decoded is _TOO_DEEP
    if too_deep:
        raise TaqnyatResponseError(
            f"Response is nested deeper than {MAX_DEPTH} levels",
            http_status=http_status,
            body_excerpt=excerpt(text),
        )
    if isinstance(decoded, dict):
        return decoded
    raise TaqnyatResponseError(
        "Response is not a JSON object", http_status=http_status, body_excerpt=excerpt(text)
    )


def decode_body(body: str | bytes | None, *, http_status: int | None = None) -> dict[str, Any]:
    """
    Decode a body into a JSON object, mending loose JSON; raise TaqnyatResponseError otherwise.

    A body longer than ``MAX_BODY_BYTES`` is refused unread; bytes that are not UTF-8 are replaced.
    """
    return decode_text(body_text(body, http_status), http_status)


def excerpt(text: str) -> str:
    """At most 200 characters of a text, whitespace folded: enough to recognise an answer in a log."""
    # Only the start is folded, so a megabyte of whitespace costs no more than a short text.
    window = text[: _EXCERPT_CHARS * 8]
    flat = " ".join(window.split())
    if len(flat) <= _EXCERPT_CHARS and len(window) == len(text):
        return flat
    return flat[:_EXCERPT_CHARS] + "…"
