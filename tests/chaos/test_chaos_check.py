"""
The chaos run's checker (tools/chaos_check.py) on recorded logs: a clean run counts 0 and 0, a planted
duplicate and a planted silent loss are both reported, and so is an error that names nobody.

The logs are built with the sandbox's own ``RecordedRequest`` and the errors with the provider's own
exception classes, so a change in either shape or wording shows up here before a chaos run misreads it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from taqnyat_provider.exceptions import (
    IncompleteDeliveryError,
    TaqnyatDeliveryUnknownError,
    UnresolvedDeliveryError,
)
from taqnyat_provider.sandbox.state import RecordedRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import chaos_check
from chaos_check import Outcome, Send, check, summary_line

AUDIO = "https://cdn.example.com/chaos/call-0.mp3"
TEXT = "Chaos drill text[0]"
CALL = Send(
    "call",
    0,
    "voice",
    AUDIO,
    ("966500000101", "966500000102", "966500000103", "966500000104", "966500000105"),
    2,
)
SMS = Send(
    "text",
    0,
    "sms",
    TEXT,
    ("966500000201", "966500000202", "966500000203", "966500000204", "966500000205"),
    2,
)
CALL2 = Send(
    "call", 1, "voice", AUDIO.replace("call-0", "call-1"), ("966500000301", "966500000302", "966500000303"), 1
)
SENDS = [CALL, SMS, CALL2]


def request(
    send: Send,
    numbers: list[str] | tuple[str, ...],
    *,
    processed: bool = True,
    fault: str | None = None,
    status: int | None = 201,
) -> dict:
    """One send request as the sandbox records it (``GET /_sandbox/requests``)."""
    if send.channel == "voice":
        body = {"recipients": list(numbers), "callerId": "966500000001", "audioUrl": send.marker}
        path, endpoint = "/voiceSend.php", "voice"
    else:
        # The SMS API's own way of writing a list, to prove the checker reads it as the sandbox does.
        body = {
            "recipients": "[" + "".join(f"{n}," for n in numbers) + "]",
            "body": send.marker,
            "sender": "Taqnyat.sa",
        }
        path, endpoint = "/v1/messages", "sms"
    record = RecordedRequest("POST", path, endpoint, {}, {}, body, "ok", status=status, fault=fault)
    record.processed = processed
    return record.to_dict()


def failure(error: Exception) -> str:
    """A task's error as Airflow logs it (taqnyat_provider.airflow_errors.to_airflow)."""
    return f"{type(error).__name__}: {error}"


def clean_run() -> tuple[list[dict], dict[str, Outcome]]:
    """
    call[0] delivered in 3 batches after a 429; text[0] was killed with batch 2 in flight and its retry
    failed naming batch 2 (batch 3 never sent); call[1] lost batch 2's answer to a dropped connection
    and failed naming it maybe reached and batch 3 not reached.
    """
    b = CALL.batches
    t = SMS.batches
    requests = [
        {
            "method": "GET",
            "path": "/system/status",
            "endpoint": "status",
            "body": None,
            "processed": False,
            "fault": None,
        },
        request(CALL, b[0]),
        request(CALL, b[1], processed=False, fault="429", status=429),
        request(CALL, b[1], processed=False, fault="rate_limit", status=429),
        request(CALL, b[1]),
        request(CALL, b[2]),
        request(SMS, t[0]),
        request(SMS, t[1], status=None),  # the worker died before the answer came back
        request(CALL2, ["966500000301"]),
        request(CALL2, ["966500000302"], fault="drop", status=None),
    ]
    unresolved = UnresolvedDeliveryError(
        maybe_reached=t[1], batches=[2], total_batches=3, key="taqnyat_ledger.x"
    )
    partial = {"accepted": ["966500000301"], "rejected": [], "maybe_reached": [], "batches": [{"batch": 1}]}
    incomplete = IncompleteDeliveryError(
        reached=["966500000301"],
        maybe_reached=["966500000302"],
        not_reached=["966500000303"],
        failed_batch=2,
        total_batches=3,
        cause=TaqnyatDeliveryUnknownError("POST /voiceSend.php: connection dropped"),
        partial_result=partial,
    )
    outcomes = {
        "call[0]": Outcome(
            "success",
            1,
            return_value={"accepted": list(CALL.recipients), "rejected": [], "maybe_reached": []},
        ),
        "text[0]": Outcome("failed", 2, error=failure(unresolved)),
        "call[1]": Outcome("failed", 1, partial_delivery=partial, error=failure(incomplete)),
    }
    return requests, outcomes


def test_a_clean_run_counts_nothing():
    requests, outcomes = clean_run()
    report = check(SENDS, requests, outcomes)
    assert (report.duplicates, report.unaccounted, report.bad_endings) == ([], [], [])
    assert report.passed
    # Processed send requests only: the 429s reached nobody; the drop and the lost answer did.
    assert report.batches == 7
    assert report.faults == 2  # the 429 and the drop; the rate limit's 429 is counted apart
    assert report.rate_limited == 1
    assert report.endings == {"success": 1, "failed": 2}
    assert summary_line(report, seed=7, kills=3, restarts=3, seconds=241.4) == (
        "chaos: seed 7, sends 3, batches 7, kills 3, restarts 3, faults 2, duplicates 0, unaccounted 0, time 241 s"
    )


def test_a_planted_duplicate_and_a_planted_silent_loss_are_both_reported():
    requests, outcomes = clean_run()
    # Duplicate: text[0]'s batch 1 went out a second time (as a retry that ignored its ledger would).
    requests.append(request(SMS, SMS.batches[0]))
    # Silent loss: call[0] says it delivered everyone, but batch 3's request never reached the sandbox.
    requests = [
        r for r in requests if not (r["endpoint"] == "voice" and r["body"]["recipients"] == ["966500000105"])
    ]
    report = check(SENDS, requests, outcomes)
    assert report.duplicates == [("text[0]", "966500000201", 2), ("text[0]", "966500000202", 2)]
    assert report.unaccounted == [("call[0]", "966500000105", "said delivered, never received")]
    assert not report.passed
    line = summary_line(report, seed=7, kills=0, restarts=0, seconds=1)
    assert "duplicates 2, unaccounted 1," in line


def test_a_success_that_never_names_an_unsent_number_is_a_silent_loss():
    requests, outcomes = clean_run()
    outcomes["call[0]"].return_value = {
        "accepted": list(CALL.recipients[:4]),
        "rejected": [],
        "maybe_reached": [],
    }
    requests = [
        r for r in requests if not (r["endpoint"] == "voice" and r["body"]["recipients"] == ["966500000105"])
    ]
    report = check(SENDS, requests, outcomes)
    assert report.unaccounted == [("call[0]", "966500000105", "received 0 time(s), named by nobody")]


def test_maybe_reached_in_a_successful_skip_send_is_accounted():
    requests, outcomes = clean_run()
    requests = [
        r for r in requests if not (r["endpoint"] == "voice" and r["body"]["recipients"] == ["966500000105"])
    ]
    outcomes["call[0]"].return_value = {
        "accepted": list(CALL.recipients[:4]),
        "rejected": [],
        "maybe_reached": ["966500000105"],
    }
    assert check(SENDS, requests, outcomes).passed


def test_a_failure_naming_nobody_is_a_bad_ending_and_its_unsent_numbers_are_unaccounted():
    requests, outcomes = clean_run()
    # A drop on the first batch: the engine raises the bare error, which names no batch and no number.
    requests = [r for r in requests if r["body"] is None or r["body"].get("audioUrl") != CALL2.marker]
    requests.append(request(CALL2, ["966500000301"], fault="drop", status=None))
    outcomes["call[1]"] = Outcome(
        "failed", 1, error=failure(TaqnyatDeliveryUnknownError("POST /voiceSend.php: dropped"))
    )
    report = check(SENDS, requests, outcomes)
    assert [(send, number) for send, number, _ in report.unaccounted] == [
        ("call[1]", "966500000302"),
        ("call[1]", "966500000303"),
    ]
    assert [send for send, _ in report.bad_endings] == ["call[1]"]
    assert (
        "names none of its numbers (TaqnyatDeliveryUnknownError: Delivery unknown" in report.bad_endings[0][1]
    )


def test_a_number_said_not_sent_but_received_is_unaccounted():
    requests, outcomes = clean_run()
    requests.append(request(SMS, SMS.batches[2]))  # text[0]'s error says batch 3 was never sent
    report = check(SENDS, requests, outcomes)
    assert report.unaccounted == [("text[0]", "966500000205", "said not sent, received 1 time(s)")]


def test_an_error_whose_counts_disagree_with_the_send_is_a_bad_ending():
    requests, outcomes = clean_run()
    wrong = UnresolvedDeliveryError(maybe_reached=SMS.batches[1][:1], batches=[2], total_batches=3, key="k")
    outcomes["text[0]"].error = failure(wrong)
    report = check(SENDS, requests, outcomes)
    assert report.bad_endings == [("text[0]", "failed on try 2: says maybe reached 1, batches [2] hold 2")]


@pytest.mark.parametrize("state", ["up_for_retry", "running", None])
def test_a_task_that_did_not_end_is_a_bad_ending(state):
    requests, outcomes = clean_run()
    outcomes["call[0]"].state = state
    report = check(SENDS, requests, outcomes)
    assert report.bad_endings == [("call[0]", f"ended {state or 'without a task instance'}")]


def test_a_request_mixing_sends_is_unaccounted():
    requests, outcomes = clean_run()
    requests.append(request(CALL, ["966500000201"]))  # an SMS send's number in a voice send's request
    report = check(SENDS, requests, outcomes)
    assert report.unaccounted == [
        ("call[0]", "966500000201", "received in a request of no send that has this number")
    ]


def test_number_lists_read_as_the_sandbox_reads_them():
    assert chaos_check.number_list("[966500000201,966500000202,]") == ["966500000201", "966500000202"]
    assert chaos_check.number_list(["966500000201"]) == ["966500000201"]
    assert chaos_check.number_list(None) == []


@pytest.mark.parametrize("lost", [1, 2], ids=["first batch", "a later batch"])
def test_a_lost_answer_as_the_delivery_engine_reports_it_accounts_for_every_number(lost):
    """
    The engine's own error and partial_delivery (the lost batch listed as maybe reached, since 0.3.0):
    the batch is maybe reached, the later ones not sent, nobody unaccounted.
    """
    from taqnyat_provider.core.delivery import Delivery
    from taqnyat_provider.core.ledger import Ledger, MemoryLedgerStore
    from taqnyat_provider.core.retry import RetryPolicy
    from taqnyat_provider.core.sending import PreparedSend, parse_send_response
    from taqnyat_provider.core.steps import Failure, TransportError, drive
    from tests.core.test_delivery import Api

    batches = CALL.batches
    api = Api({batches[lost - 1][0]: [TransportError(Failure.DROPPED, "reset")]})
    prepared = PreparedSend(
        "voiceSend.php/",
        {"audioUrl": AUDIO},
        list(CALL.recipients),
        "a voice call",
        parse=parse_send_response,
    )
    delivery = Delivery(
        prepared, 2, ledger=Ledger(MemoryLedgerStore(), "taqnyat.send"), policy=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(IncompleteDeliveryError) as raised:
        drive(delivery.steps(), api)
    error = raised.value
    requests = [request(CALL, batch) for batch in batches[: lost - 1]]
    requests.append(request(CALL, batches[lost - 1], fault="drop", status=None))
    outcomes = {"call[0]": Outcome("failed", 1, partial_delivery=error.partial_result, error=failure(error))}
    report = check([CALL], requests, outcomes)
    assert (report.duplicates, report.unaccounted, report.bad_endings) == ([], [], [])
