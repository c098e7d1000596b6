"""
The sandbox's rate limit: a per-token sliding window answered with 429 and ``Retry-After``, as the
gateway in front of Taqnyat's API does (its published connector allows 100 calls per 60 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from taqnyat_provider.sandbox import SandboxServer
from taqnyat_provider.sandbox.state import RateLimit, SandboxState
from tests.sandbox.client import SMS, TOKEN, VOICE, admin, call


@pytest.mark.parametrize(
    ("text", "requests_", "window", "sliding"),
    [
        ("100/60s", 100, 60.0, False),
        ("100/60", 100, 60.0, False),
        (" 100 / 1m ", 100, 60.0, False),
        ("5/s", 5, 1.0, False),
        ("5/2.5sec", 5, 2.5, False),
        ("1000/1h", 1000, 3600.0, False),
        ("100/60s sliding", 100, 60.0, True),
        ("3/s  sliding ", 3, 1.0, True),
    ],
)
def test_rate_limits_are_written_requests_per_window(text, requests_, window, sliding):
    limit = RateLimit.parse(text)
    assert (limit.requests, limit.window, limit.sliding) == (requests_, window, sliding)
    assert RateLimit.parse(str(limit)) == limit


@pytest.mark.parametrize(
    "text",
    ["", "100", "0/60s", "100/0s", "-1/60s", "100/60d", "a/b", "100/60s/2", "100/60ssliding", "sliding"],
)
def test_a_rate_limit_that_cannot_be_read_is_refused(text):
    with pytest.raises(ValueError, match=r"[Rr]ate limit"):
        RateLimit.parse(text)


def test_a_fixed_window_opens_on_the_first_request_and_resets_every_slot_at_once():
    state = SandboxState(rate_limit="3/10s")
    assert [state.admit(now=t) for t in (100.0, 104.0, 109.0)] == [None, None, None]
    # Full until the window that t=100 opened ends at t=110, for every caller alike.
    assert state.admit(now=109.2) == pytest.approx(0.8)
    assert state.admit(now=109.9) == pytest.approx(0.1)
    # At t=110 the three slots are free again, though t=104 and t=109 are less than 10 s ago.
    assert [state.admit(now=t) for t in (111.0, 111.1, 111.2)] == [None, None, None]
    assert state.admit(now=115.0) == pytest.approx(6.0)  # the window t=111 opened ends at t=121
    assert state.admit(now=130.0) is None


def test_a_sliding_window_frees_slots_one_by_one_and_refused_requests_take_none():
    state = SandboxState(rate_limit="3/10s sliding")
    assert [state.admit(now=t) for t in (100.0, 101.0, 102.0)] == [None, None, None]
    # Full: the oldest (t=100) leaves the window at t=110.
    assert state.admit(now=104.0) == pytest.approx(6.0)
    assert state.admit(now=109.5) == pytest.approx(0.5)
    assert state.admit(now=110.0) is None  # the t=100 slot, freed exactly on time
    assert state.admit(now=110.5) == pytest.approx(0.5)  # t=101 still holds one
    assert state.admit(now=111.0) is None


def test_no_limit_admits_everything():
    state = SandboxState()
    assert all(state.admit(now=float(t)) is None for t in range(1000))


def test_the_token_s_requests_beyond_the_limit_get_429_with_retry_after(api):
    api.state.set_rate_limit("3/60s")
    answers = [call(api) for _ in range(3)]
    refused = call(api)

    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert refused.status_code == 429
    assert refused.json() == {"statusCode": 429, "message": "Too Many Requests: API rate limit exceeded"}
    # Whole seconds until the first request leaves the window: about 60, never 0.
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    # Refused means not processed: three calls were placed, not four.
    assert len(api.state.calls) == 3
    [record] = api.state.rate_limited()
    assert (record.endpoint, record.status, record.fault, record.processed) == (
        "voice",
        429,
        "rate_limit",
        False,
    )
    assert [r.status for r in api.received("voice")] == [201, 201, 201, 429]


def test_every_endpoint_of_the_token_counts_but_no_other_request_does(api):
    api.state.set_rate_limit("3/60s")
    base, auth = api.base_url, {"Authorization": f"Bearer {TOKEN}"}
    # Uncounted: the status endpoint needs no token, a wrong token is answered 401 before the limit.
    for _ in range(5):
        assert requests.get(f"{base}/system/status", timeout=10).status_code == 200
        assert call(api, token="wrong").status_code == 401
    # Counted: any request carrying the token, whatever the endpoint (a wrong path too).
    assert requests.get(f"{base}/account/balance", headers=auth, timeout=10).status_code == 200
    assert requests.post(f"{base}/v1/messages", json=SMS, headers=auth, timeout=10).status_code == 201
    assert requests.get(f"{base}/nowhere", headers=auth, timeout=10).status_code == 404
    assert requests.get(f"{base}/v1/messages/senders", headers=auth, timeout=10).status_code == 429
    assert [r.endpoint for r in api.state.rate_limited()] == ["senders"]


def test_waiting_as_retry_after_says_gets_through(api):
    api.state.set_rate_limit("2/1s")
    assert [call(api).status_code for _ in range(2)] == [201, 201]
    refused = call(api)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")

    time.sleep(float(refused.headers["Retry-After"]))

    assert call(api).status_code == 201
    assert len(api.state.called_numbers()) == 3


def test_a_fault_waits_behind_the_limit(api):
    api.state.set_rate_limit("1/60s")
    assert call(api).status_code == 201
    api.state.inject("503", endpoint="voice", retry_after=None)

    assert call(api).status_code == 429
    assert len(api.state.faults) == 1  # the gateway refused it: the API never saw it, the fault waits
    api.state.set_rate_limit(None)
    assert call(api).status_code == 503
    assert [r.fault for r in api.received("voice")] == [None, "rate_limit", "503"]


def test_reset_comes_back_to_the_limit_the_server_started_with():
    with SandboxServer(token=TOKEN, rate_limit="1/60s") as server:
        assert str(server.state.rate_limit) == "1/60s"
        assert call(server).status_code == 201
        assert call(server).status_code == 429
        server.state.set_rate_limit(None)
        server.state.reset()
        # The window starts anew with the started-with limit.
        assert call(server).status_code == 201
        assert call(server).status_code == 429
        assert server.state.snapshot()["rate_limit"] == "1/60s"


def test_the_admin_endpoint_sets_reads_and_lifts_the_limit(api):
    assert admin(api, "GET", "rate-limit").json() == {"limit": None, "rate_limited": 0}

    assert admin(api, "POST", "rate-limit", {"limit": "1/1m"}).json() == {
        "limit": "1/60s",
        "rate_limited": 0,
    }
    assert [call(api).status_code for _ in range(3)] == [201, 429, 429]
    assert admin(api, "GET", "rate-limit").json() == {"limit": "1/60s", "rate_limited": 2}

    assert admin(api, "POST", "rate-limit", {"limit": None}).json()["limit"] is None
    assert call(api).status_code == 201


@pytest.mark.parametrize("payload", [{"limit": "fast"}, {"limit": "0/1s"}, {}, ["1/1s"], {"limit": 5}])
def test_the_admin_endpoint_refuses_a_limit_it_cannot_read(api, payload):
    answer = admin(api, "POST", "rate-limit", payload)
    assert answer.status_code == 400
    assert "limit" in answer.json()["error"].lower()
    assert api.state.rate_limit is None


def test_the_pytest_fixture_sets_the_limit_and_counts_the_refusals(taqnyat_sandbox, taqnyat_sandbox_server):
    taqnyat_sandbox.set_rate_limit("1/60s")
    auth = {"Authorization": f"Bearer {taqnyat_sandbox.token}"}
    for _ in range(3):
        requests.get(f"{taqnyat_sandbox.base_url}/account/balance", headers=auth, timeout=10)

    assert [r.status for r in taqnyat_sandbox.rate_limited()] == [429, 429]
    # The next test's fixture resets the session's server: no limit is left behind.
    taqnyat_sandbox_server.state.reset()
    assert taqnyat_sandbox.state.rate_limit is None


def test_the_hook_waits_as_told_and_calls_everyone_once(api, monkeypatch):
    from taqnyat_provider.hooks.taqnyat import TaqnyatHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_TAQNYAT_DEFAULT", api.connection_json(caller_id="966500000001", timeout=5)
    )
    api.state.set_rate_limit("1/2s")
    rota = ["966500000000", "966512345678"]

    started = time.monotonic()
    TaqnyatHook().place_voice_calls("https://cdn.example.com/alert.mp3", rota, batch_size=1)

    assert [r.status for r in api.received("voice")] == [201, 429, 201]
    assert api.received("voice")[1].fault == "rate_limit"
    assert api.state.called_numbers() == rota
    assert time.monotonic() - started >= 1.5  # it waited for the slot instead of hammering


def test_the_cli_takes_a_rate_limit(tmp_path):
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taqnyat_provider.sandbox",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--rate-limit",
            "2/60s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"TAQNYAT_SANDBOX_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        statuses = [
            requests.post(
                f"{base}/voiceSend.php", json=VOICE, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            ).status_code
            for _ in range(3)
        ]
        snapshot = requests.get(
            f"{base}/_sandbox/requests", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ).json()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)

    assert statuses == [201, 201, 429]
    assert snapshot["rate_limit"] == "2/60s"
    assert [r["fault"] for r in snapshot["requests"]] == [None, None, "rate_limit"]
    assert "rate limit 2/60s per token" in output
    assert "fault=rate_limit" in output
    assert TOKEN not in output


def test_the_cli_refuses_an_unreadable_rate_limit_before_starting():
    done = subprocess.run(
        [sys.executable, "-m", "taqnyat_provider.sandbox", "--rate-limit", "lots"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--rate-limit" in done.stderr and "100/60s" in done.stderr


def test_the_cli_loads_no_airflow_and_no_aiohttp_to_answer_help():
    """It starts fast: --help (and any argument mistake) answers before aiohttp or Airflow load."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "taqnyat_provider.sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--rate-limit" in done.stdout
    modules = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert not {m for m in modules if m.split(".")[0] in ("airflow", "aiohttp", "requests", "sqlalchemy")}


def test_the_running_sandbox_imports_no_airflow():
    code = (
        "import sys, json\n"
        "from taqnyat_provider.sandbox import SandboxServer\n"
        "from taqnyat_provider.sandbox.__main__ import main\n"
        "with SandboxServer(rate_limit='1/1s') as server:\n"
        "    import urllib.request\n"
        "    urllib.request.urlopen(server.base_url + '/system/status').read()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'sqlalchemy'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == []
