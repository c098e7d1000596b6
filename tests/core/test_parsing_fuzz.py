"""
Fuzz and timing tests for every public parser of Taqnyat's answers.

An answer is parsed by a worker right after a POST and by the triggerer inside its event loop, so a
long or hostile body must neither raise anything but the provider's own errors nor take long: any
body up to ``MAX_BODY_BYTES`` parses in time linear in its length. Run with ``-s`` to see the
measured times.

Times are the process's CPU time (``time.process_time``), best of a few runs: the machine is shared
with other work, and time spent descheduled is not the parser's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.account import parse_balance, parse_senders
from taqnyat_provider.core.endpoints.sms_delete import parse_acknowledgement
from taqnyat_provider.core.endpoints.status import parse_system_status
from taqnyat_provider.core.loose_json import MAX_BODY_BYTES, MAX_LOOSE_TOKENS, decode_body
from taqnyat_provider.core.sending import parse_send_response
from taqnyat_provider.core.wire import as_number_list
from tests.core import reference_examples as ref

PROVIDER_ERRORS = (exc.TaqnyatApiError, exc.TaqnyatResponseError)
FUZZ_BOUND_SECONDS = 0.5
"""Generous for a shared two-core machine: a linear parser takes a few ms per MiB, a quadratic one minutes."""
FAST_BOUND_SECONDS = 0.050

Parser = Callable[[int, Any], Any]
PARSERS: dict[str, Parser] = {
    "parse_send_response": lambda status, body: parse_send_response(status, body, ["966500000000"]),
    "parse_system_status": parse_system_status,
    "parse_balance": parse_balance,
    "parse_senders": parse_senders,
    "parse_acknowledgement": parse_acknowledgement,
    "decode_body": lambda status, body: decode_body(body, http_status=status),
}


def timed(parse: Callable[[], Any]) -> tuple[float, str]:
    """CPU seconds one parse took and how it ended; anything but a provider error fails the test."""
    started = time.process_time()
    try:
        parse()
        outcome = "parsed"
    except PROVIDER_ERRORS as error:
        outcome = type(error).__name__
    return time.process_time() - started, outcome


def fastest(parse: Callable[[], Any], runs: int = 5) -> float:
    """The best of a few runs: a cold cache or a page fault is not the parser's time either."""
    return min(timed(parse)[0] for _ in range(runs))


def size_of(body: str | bytes) -> int:
    return len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------------------------------
# Bodies


def repeated(fragment: str | bytes, times: int) -> str | bytes:
    """A fragment repeated up to the size cap: long runs are what made the old repair quadratic."""
    return (fragment * times)[:MAX_BODY_BYTES]


def spliced(base: str, fragment: str, times: int, at: float) -> str:
    """A real answer with a long run of something inserted somewhere inside it."""
    cut = int(len(base) * at)
    body = base[:cut] + fragment * times + base[cut:]
    return body[:MAX_BODY_BYTES]


REAL_BODIES = [
    ref.STATUS_OK,
    ref.VOICE_SUCCESS,
    ref.SMS_SUCCESS,
    ref.SENDERS,
    ref.SMS_DELETED,
    *ref.VOICE_ERRORS.values(),
]
SPECIAL = st.sampled_from(
    [
        "\n",
        " ",
        "\t",
        "{",
        "[",
        "}",
        "]",
        ",",
        ":",
        '"',
        "\\",
        "a:",
        "a: b,",
        '"a":1,',
        "1,",
        "\r\n",
        "\u00a0",
    ]
)
fragments = SPECIAL | st.text(min_size=1, max_size=24)
long_text = st.builds(repeated, fragments, st.integers(1, MAX_BODY_BYTES))
long_bytes = st.builds(repeated, st.binary(min_size=1, max_size=24), st.integers(1, MAX_BODY_BYTES))
long_inside_real = st.builds(
    spliced, st.sampled_from(REAL_BODIES), fragments, st.integers(1, 200_000), st.floats(0, 1)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
valid_json = json_values.map(json.dumps)
non_utf8 = st.builds(
    lambda prefix, junk, suffix: prefix.encode() + junk + suffix.encode(),
    st.sampled_from(REAL_BODIES),
    st.binary(min_size=1, max_size=40).filter(lambda raw: not _is_utf8(raw)),
    st.sampled_from(["", "}", '"}']),
)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


any_body = long_text | long_bytes | long_inside_real | valid_json | non_utf8 | st.text(max_size=400)
statuses = st.sampled_from([200, 201, 400, 401, 404, 405, 429, 500, 502, 503]) | st.integers(100, 599)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(status=statuses, body=any_body)
def test_every_parser_raises_only_provider_errors_in_bounded_time(name, status, body):
    seconds, _ = timed(lambda: PARSERS[name](status, body))
    assert seconds < FUZZ_BOUND_SECONDS, f"{name} took {seconds:.3f} s on a {size_of(body)}-byte body"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values | long_text)
def test_number_lists_never_raise(value):
    started = time.process_time()
    numbers = as_number_list(value)
    assert time.process_time() - started < FUZZ_BOUND_SECONDS
    assert all(isinstance(number, str) and number for number in numbers)


@settings(max_examples=100, deadline=None)
@given(junk=st.binary(min_size=1, max_size=200))
def test_bytes_that_are_not_utf8_never_raise_a_decode_error(junk):
    # Bytes are read with errors="replace": a bad byte becomes U+FFFD, never a UnicodeDecodeError.
    for parse in PARSERS.values():
        timed(partial(parse, 201, b'{"statusCode":201,"message":"' + junk + b'"}'))


def test_non_utf8_bytes_in_a_string_become_replacement_characters():
    decoded = decode_body(b'{"statusCode": 200, "message": "caf\xe9 \xff"}')
    assert decoded["message"] == "caf\ufffd \ufffd"


# --------------------------------------------------------------------------------------------------
# The size cap


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_a_body_longer_than_the_cap_is_refused_unread(name):
    body = b'{"statusCode":200,"message":"' + b"x" * MAX_BODY_BYTES + b'"}'
    with pytest.raises(PROVIDER_ERRORS) as raised:
        PARSERS[name](200, body)
    assert f"longer than the {MAX_BODY_BYTES} bytes" in str(raised.value)


def test_the_cap_counts_bytes_not_characters():
    # 300,000 Arabic letters are 600,000 bytes: within the cap. 600,000 of them are not.
    within = json.dumps({"statusCode": 201, "message": "ب" * 300_000}, ensure_ascii=False)
    assert decode_body(within)["message"] == "ب" * 300_000
    with pytest.raises(exc.TaqnyatResponseError, match="longer than"):
        decode_body(json.dumps({"message": "ب" * 600_000}, ensure_ascii=False))


def test_a_body_of_exactly_the_cap_is_read():
    filler = MAX_BODY_BYTES - len(json.dumps({"statusCode": 201, "message": ""}))
    body = json.dumps({"statusCode": 201, "message": "x" * filler}).encode()
    assert len(body) == MAX_BODY_BYTES
    assert parse_acknowledgement(201, body).message == "x" * filler


def test_an_over_long_client_error_is_still_a_client_error():
    with pytest.raises(exc.TaqnyatInvalidTokenError) as raised:
        parse_send_response(401, b" " * (MAX_BODY_BYTES + 1), ["966500000000"])
    assert raised.value.http_status == 401


# --------------------------------------------------------------------------------------------------
# Timing: a megabyte of what made the old repair quadratic, each under 50 ms


def valid_long_send_answer() -> str:
    accepted = ",".join(f"9665{index:08d}" for index in range(75_000))
    body = json.dumps({"statusCode": 201, "messageId": "1", "accepted": f"[{accepted},]", "rejected": "[]"})
    assert MAX_BODY_BYTES * 0.9 < len(body) <= MAX_BODY_BYTES
    return body


MEGABYTE_BODIES: dict[str, Callable[[], str | bytes]] = {
    "whitespace": lambda: " \t" * (MAX_BODY_BYTES // 2),
    "newlines": lambda: "\n" * MAX_BODY_BYTES,
    "open braces": lambda: "{" * MAX_BODY_BYTES,
    "open brackets": lambda: "[" * MAX_BODY_BYTES,
    "valid long JSON": valid_long_send_answer,
    "newlines before a bare key": lambda: "\n" * (MAX_BODY_BYTES - 10) + "a: 1",
    "non-UTF-8 bytes": lambda: b"\xff\xfe" * (MAX_BODY_BYTES // 2),
}


@pytest.mark.parametrize("case", MEGABYTE_BODIES)
def test_a_megabyte_parses_in_under_50_ms(case):
    body = MEGABYTE_BODIES[case]()
    assert MAX_BODY_BYTES * 0.9 < size_of(body) <= MAX_BODY_BYTES
    times = {name: fastest(partial(parse, 201, body)) for name, parse in PARSERS.items()}
    print(
        f"\n{case} ({size_of(body)} bytes): " + ", ".join(f"{n} {t * 1000:.1f} ms" for n, t in times.items())
    )
    # A real answer listing 75,000 numbers does real work per number (each is read and matched by
    # its digits): linear, but not a 50 ms job on a busy 2-core machine. Everything else must be.
    bound = 3 * FAST_BOUND_SECONDS if case == "valid long JSON" else FAST_BOUND_SECONDS
    slow = {name: round(seconds * 1000, 1) for name, seconds in times.items() if seconds >= bound}
    assert not slow, f"over {bound * 1000:.0f} ms (ms): {slow}"


def test_the_valid_long_answer_is_read_whole():
    result = parse_send_response(201, valid_long_send_answer(), ["966500000000"])
    assert len(result.accepted) == 75_000


LOOSE_FRAGMENTS = ["\n", "a: b,\n", '"a": 1,\n', "a: [1, 2, x],\n", "[", "1,", '"\\', "\n\n\n\nx"]


@pytest.mark.parametrize("fragment", LOOSE_FRAGMENTS, ids=repr)
def test_a_megabyte_of_loose_json_parses_in_under_50_ms(fragment):
    body = repeated(fragment, MAX_BODY_BYTES)
    seconds = fastest(lambda: PARSERS["parse_send_response"](201, body))
    print(f"\n{fragment!r} x {len(body) // len(fragment)}: {seconds * 1000:.1f} ms")
    assert seconds < FAST_BOUND_SECONDS


@pytest.mark.parametrize("fragment", LOOSE_FRAGMENTS, ids=repr)
def test_loose_reading_is_linear(fragment):
    # A body just under the token cap, against one eight times smaller: linear time is eight times
    # longer (allow sixteen for noise), quadratic would be sixty-four.
    large = "{" + fragment * (MAX_LOOSE_TOKENS // 6) + "}"
    small = "{" + fragment * (MAX_LOOSE_TOKENS // 48) + "}"
    large_time = fastest(lambda: decode_body(large))
    small_time = max(fastest(lambda: decode_body(small)), 0.0005)
    print(
        f"\n{fragment!r}: {len(small)} chars {small_time * 1000:.2f} ms, {len(large)} chars {large_time * 1000:.2f} ms"
    )
    assert large_time < 16 * small_time


def test_loose_json_beyond_the_token_cap_is_not_read():
    assert decode_body("{k0: v" + ", k1: v" * 100 + "}")["k1"] == "v"
    pairs = ", ".join(f"k{index}: v" for index in range(MAX_LOOSE_TOKENS))
    with pytest.raises(exc.TaqnyatResponseError, match="not a JSON object"):
        decode_body("{" + pairs + "}")
