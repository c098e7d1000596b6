"""
Bad-input suite: each bad value fails the task on its first try with an error that names it,
before any request reaches the sandbox (not even the balance check).
"""

from __future__ import annotations

import json

import pytest

from tests.dag_runner import run_dag

pytestmark = pytest.mark.integration

ALICE = "966500000000"
AUDIO = "https://cdn.example.com/alert.mp3"

DAG = """
import datetime
import pendulum
from airflow.providers.common.compat.sdk import DAG
from taqnyat_provider.operators.sms import TaqnyatSmsOperator
from taqnyat_provider.operators.voice import TaqnyatVoiceOperator

with DAG("__DAG_ID__", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False,
         params={"nobody": None, "team": ["966500000000"]}, render_template_as_native_obj=NATIVE) as dag:
    OPERATOR(task_id="send", retries=2, retry_delay=datetime.timedelta(0), min_balance=1, ARGUMENTS)
"""

VOICE = {"audio_url": AUDIO, "recipients": [ALICE]}
SMS = {"body": "Nightly load finished", "recipients": [ALICE]}

# (operator, arguments over the defaults, render as native objects, text the log must show)
CASES = {
    "recipient-too-short": ("voice", {"recipients": ["12345"]}, False, "'12345'"),
    "recipient-letters": ("sms", {"recipients": [ALICE, "call-me"]}, False, "'call-me'"),
    "recipient-partial-number": ("sms", {"recipients": "+966 5"}, False, "'+966 5'"),
    "recipients-none": ("voice", {"recipients": None}, False, "recipients is None"),
    "recipients-empty-list": ("sms", {"recipients": []}, False, "recipients is empty"),
    "recipients-template-renders-none": (
        "voice",
        {"recipients": "{{ params.nobody }}"},
        True,
        "recipients is None",
    ),
    "recipients-template-renders-empty": (
        "sms",
        {"recipients": "{{ params.get('missing', '') }}"},
        False,
        "recipients is empty",
    ),
    "recipients-huge-list": (
        "sms",
        {"recipients": "{{ '966500000000,' * 100001 }}"},
        False,
        "100001",
    ),
    # Arabic-Indic and fullwidth digits are read (see the test below); letters among them are not.
    "recipients-arabic-indic-digits-and-letters": (
        "voice",
        {"recipients": ["٩٦٦٥٠٠abc٠٠"]},
        False,
        "'٩٦٦٥٠٠abc٠٠'",
    ),
    "recipients-fullwidth-too-short": ("sms", {"recipients": ["９６６５"]}, False, "'９６６５'"),
    "recipient-header-injection": ("voice", {"recipients": [f"{ALICE}\r\nX-Evil: 1"]}, False, "'X-Evil: 1'"),
    "local-number-without-region": ("sms", {"recipients": ["0500000000"]}, False, "needs default_region"),
    "audio-not-a-url": (
        "voice",
        {"audio_url": "alert.mp3"},
        False,
        "audio_url must be an absolute http(s) URL",
    ),
    "audio-ftp": (
        "voice",
        {"audio_url": "ftp://cdn.example.com/a.mp3"},
        False,
        "'ftp://cdn.example.com/a.mp3'",
    ),
    "audio-newline-injection": (
        "voice",
        {"audio_url": AUDIO + "\nX-Evil: 1"},
        False,
        "whitespace or control characters",
    ),
    "audio-renders-none": ("voice", {"audio_url": "{{ params.nobody }}"}, True, "got None"),
    "caller-id-letters": ("voice", {"caller_id": "CALLCENTER"}, False, "Invalid caller_id 'CALLCENTER'"),
    "caller-id-header-injection": (
        "voice",
        {"caller_id": "966500000001\r\nX-Evil: 1"},
        False,
        "Invalid caller_id",
    ),
    "sms-body-empty": ("sms", {"body": "   "}, False, "SMS body is empty"),
    "sms-body-renders-none": ("sms", {"body": "{{ params.nobody }}"}, True, "SMS body is None"),
    "sms-body-oversized": ("sms", {"body": "x" * 5000}, False, "the most this provider sends is 10"),
    "sms-body-nul": ("sms", {"body": "ok\x00"}, False, "control character"),
    "sender-newline-injection": ("sms", {"sender": "Brand\r\nX-Evil: 1"}, False, "Invalid sender"),
    "sender-too-long": ("sms", {"sender": "MyVeryLongBrand"}, False, "Invalid sender 'MyVeryLongBrand'"),
    "schedule-naive": ("sms", {"scheduled_at": "2031-01-01T09:00:00"}, False, "has no timezone"),
    "schedule-past": ("sms", {"scheduled_at": "2020-01-01T09:00:00+03:00"}, False, "is not in the future"),
    "schedule-garbage": ("sms", {"scheduled_at": "next tuesday"}, False, "'next tuesday' is not an ISO 8601"),
    "delete-id-injection": (
        "sms",
        {"delete_id": "5; DROP TABLE"},
        False,
        "delete_id must be a positive whole number",
    ),
}


@pytest.fixture(autouse=True)
def _setup(airflow_db, sandbox, fast_retries):
    pass


@pytest.mark.parametrize("case", CASES)
def test_bad_input_fails_before_any_request(sandbox, capfd, case):
    channel, arguments, native, message = CASES[case]
    operator, defaults = (
        ("TaqnyatVoiceOperator", VOICE) if channel == "voice" else ("TaqnyatSmsOperator", SMS)
    )
    rendered = ", ".join(f"{name}={value!r}" for name, value in {**defaults, **arguments}.items())
    source = DAG.replace("OPERATOR", operator).replace("NATIVE", str(native)).replace("ARGUMENTS", rendered)
    outcome = run_dag(source)
    assert outcome.task("send").state == "failed"
    assert outcome.task("send").try_number == 1  # bad input is not retried
    assert sandbox.received() == []  # not even the balance was read
    assert message in capfd.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a whole number from 1 to 1000, got 0"),
        ({"batch_size": "10"}, "got '10'"),
        ({"min_balance": "-1"}, "min_balance must be a non-negative amount, got '-1'"),
        ({"min_balance": "lots"}, "got 'lots'"),
    ],
)
def test_bad_operator_arguments_fail_when_the_dag_is_parsed(arguments, message):
    from taqnyat_provider.exceptions import InvalidInputError
    from taqnyat_provider.operators.sms import TaqnyatSmsOperator

    with pytest.raises(InvalidInputError, match=message):
        TaqnyatSmsOperator(task_id="send", **SMS, **arguments)


def test_arabic_indic_and_fullwidth_digits_are_sent_as_international_ascii_digits(sandbox):
    source = DAG.replace("OPERATOR", "TaqnyatVoiceOperator").replace("NATIVE", "False")
    arguments = {"audio_url": AUDIO, "recipients": ["٩٦٦٥٠٠٠٠٠٠٠٠", "+９６６ ５１２ ３４５ ６７８"]}
    outcome = run_dag(source.replace("ARGUMENTS", ", ".join(f"{k}={v!r}" for k, v in arguments.items())))
    assert outcome.task("send").state == "success"
    [request] = sandbox.received("voice")
    assert request.body["recipients"] == ["966500000000", "966512345678"]


# Bad connection settings: (what differs from the sandbox connection, text the log must show)
BAD_SETTINGS = {
    "port-out-of-range": ({"port": 70000}, "Port must be a whole number from 1 to 65535"),
    "proxies-not-a-url": ({"extra": {"proxies": "not a url"}}, "Proxies ('proxies' extra)"),
    "verify-typo": ({"extra": {"verify": "ture"}}, "Verify TLS ('verify' extra) must be true, false"),
    "timeout-boolean": ({"extra": {"timeout": True}}, "Timeout (seconds) ('timeout' extra)"),
    "token-not-ascii": ({"password": "tok\u00e9n-\u201cquoted\u201d"}, "Bearer token contains a character"),
    "subdomain-of-localhost": (
        {"host": "http://api.localhost:8080"},
        "Refusing plain http:// for api.localhost",
    ),
}


def bad_connection(sandbox, change: dict) -> str:
    conn = json.loads(sandbox.connection_json(timeout=2, caller_id="966500000001", sender="Taqnyat.sa"))
    extra = {**conn["extra"], **change.get("extra", {})}
    return json.dumps({**conn, **{k: v for k, v in change.items() if k != "extra"}, "extra": extra})


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_a_bad_connection_setting_fails_the_first_try_naming_the_field(sandbox, capfd, monkeypatch, case):
    change, message = BAD_SETTINGS[case]
    monkeypatch.setenv("AIRFLOW_CONN_TAQNYAT_DEFAULT", bad_connection(sandbox, change))
    source = DAG.replace("OPERATOR", "TaqnyatVoiceOperator").replace("NATIVE", "False")
    outcome = run_dag(source.replace("ARGUMENTS", f"audio_url={AUDIO!r}, recipients=[{ALICE!r}]"))
    assert (outcome.task("send").state, outcome.task("send").try_number) == ("failed", 1)
    assert sandbox.received() == []
    log = capfd.readouterr().out
    assert message in log
    assert "tok\u00e9n" not in log


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_a_bad_connection_setting_fails_the_connection_test_naming_the_field(sandbox, monkeypatch, case):
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook

    change, message = BAD_SETTINGS[case]
    monkeypatch.setenv("AIRFLOW_CONN_TAQNYAT_DEFAULT", bad_connection(sandbox, change))
    ok, said = TaqnyatHook().test_connection()
    assert not ok
    assert message in said
    assert sandbox.received() == []
