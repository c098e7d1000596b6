"""
Failing chaos seeds, kept as recorded runs (tests/chaos/regressions/*.json): the send plan, the
sandbox's requests of the sends concerned, their task outcomes, and what happened.

Each file's checker verdict is asserted as recorded, so the checker keeps seeing the failure while the
provider behaves that way; once the provider is fixed, re-run the seed with ``make test-chaos`` and
replace the file's outcomes with the new run's (or remove it, saying why in the commit).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from chaos_check import Outcome, Send, check

REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.json"))


def replay(path: Path):
    recorded = json.loads(path.read_text())
    sends = [Send.from_dict(send) for send in recorded["plan"]]
    outcomes = {label: Outcome.from_dict(outcome) for label, outcome in recorded["outcomes"].items()}
    return recorded, check(sends, recorded["requests"], outcomes)


def test_every_regression_is_replayed():
    assert REGRESSIONS, "tests/chaos/regressions/ holds no recorded seed"


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda path: path.stem)
def test_recorded_runs_still_fail_as_described(path):
    recorded, report = replay(path)
    assert recorded["finding"], "a kept seed says what went wrong"
    assert not report.passed


def test_seed_20250_a_lost_answer_on_the_first_batch_names_nobody():
    _, report = replay(Path(__file__).parent / "regressions" / "seed-20250-first-batch-unknown.json")
    # Nobody was reached twice: the provider never re-sent the batch whose answer was lost.
    assert report.duplicates == []
    assert [send for send, _ in report.bad_endings] == ["call[10]", "text[14]"]
    assert all(
        "names none of its numbers (AirflowFailException: TaqnyatDeliveryUnknownError" in why
        for _, why in report.bad_endings
    )
    unaccounted = {}
    for send, number, why in report.unaccounted:
        assert why == "received 0 time(s), named by nobody"
        unaccounted.setdefault(send, []).append(number)
    # Batch 1 was processed once (so its numbers count as reached once); every later batch never went
    # out and no error, log line or XCom says so.
    assert {send: len(numbers) for send, numbers in unaccounted.items()} == {"call[10]": 22, "text[14]": 16}
    assert unaccounted["call[10]"][0] == "966502300005"
    assert unaccounted["text[14]"][0] == "966502500003"
