"""
Errors that name bad recipients show a bounded sample and a count, never the whole list: 100,000
local numbers with ``default_region`` forgotten once made an 8.9 MB exception message (and task log).
"""

from __future__ import annotations

import pytest

from taqnyat_provider.core.recipients import normalize_caller_id, normalize_recipients
from taqnyat_provider.exceptions import SAMPLE_SIZE, InvalidInputError, InvalidRecipientsError
from tests.dag_runner import run_dag

LIMIT = 2048  # bytes: a message one can read in a task log
LOCAL = [f"05{i:08d}" for i in range(100_000)]  # Saudi mobiles written the local way


def test_100000_local_numbers_without_default_region_name_a_sample_and_the_count():
    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients(LOCAL)
    message = str(raised.value)
    assert len(message.encode()) < LIMIT, len(message.encode())
    assert message.startswith("Invalid recipients, nothing was sent: 100000 invalid, the first 5: ")
    for entry in LOCAL[:SAMPLE_SIZE]:
        assert repr(entry) in message
    assert repr(LOCAL[SAMPLE_SIZE]) not in message
    # One reason covers them all, and it says what to do.
    assert "100000 × a local number (leading 0) needs default_region" in message
    # The full list stays on the exception for code that wants it.
    assert raised.value.invalid == LOCAL
    # The same numbers with the region given are valid: the message was about the region only.
    assert normalize_recipients(LOCAL[:3], default_region="SA") == [
        "966500000000",
        "966500000001",
        "966500000002",
    ]


def test_a_few_bad_recipients_are_all_named_without_a_count():
    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients(["966500000000", "12345", "call-me"])
    assert str(raised.value) == (
        "Invalid recipients, nothing was sent: '12345': not a valid phone number; "
        "'call-me': contains characters that are not digits: 'acelm'"
    )


def test_mixed_reasons_are_counted_by_reason():
    bad = ["12345"] * 3 + ["call-me", "0500000000", "0500000001", "+966 5"] + [f"1{i:03d}" for i in range(50)]
    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients(bad)
    message = str(raised.value)
    assert message.startswith(f"Invalid recipients, nothing was sent: {len(bad)} invalid, the first 5: ")
    assert "53 × not a valid phone number" in message
    assert "2 × a local number (leading 0) needs default_region" in message
    assert "1 other reasons" in message  # the fourth reason is counted, not spelled out
    assert len(message.encode()) < LIMIT


def test_huge_entries_are_clipped():
    """One entry of a megabyte (a file read into the list by mistake) is shown by its start."""
    junk = "9665" + "".join(chr(0x4E00 + i) for i in range(1_000_000 // 2))
    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients([junk, junk + "9"])
    message = str(raised.value)
    assert len(message.encode()) < LIMIT, len(message.encode())
    assert message.count("'9665") == 2 and "…" in message
    with pytest.raises(InvalidRecipientsError) as raised:
        normalize_recipients([{"phone": "x" * 100_000}])
    assert len(str(raised.value).encode()) < LIMIT


def test_a_huge_caller_id_is_clipped():
    with pytest.raises(InvalidInputError) as raised:
        normalize_caller_id("966" + "x" * 1_000_000)
    assert len(str(raised.value).encode()) < LIMIT
    assert str(raised.value).startswith("Invalid caller_id '966xxx")


DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.sms import TaqnyatSmsOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False) as dag:
    TaqnyatSmsOperator(
        task_id="send",
        retries=2,
        body="Nightly load finished",
        sender="Taqnyat.sa",
        recipients=[f"05{i:08d}" for i in range(20_000)],  # default_region forgotten
    )
"""


@pytest.mark.integration
def test_the_task_log_carries_the_sample_not_the_list(airflow_db, sandbox, fast_retries, capfd):
    outcome = run_dag(DAG)
    assert (outcome.task("send").state, outcome.task("send").try_number) == ("failed", 1)
    assert sandbox.received() == []  # nothing was sent, not even a balance read
    log = capfd.readouterr().out
    assert "20000 invalid, the first 5: '0500000000': a local number" in log
    # The log shows the error (and may repeat it in a traceback), never the list: the 20,000th
    # number is nowhere, and the whole log of a failed try stays small.
    assert "0500019999" not in log
    assert len(log.encode()) < 60 * LIMIT, len(log.encode())
