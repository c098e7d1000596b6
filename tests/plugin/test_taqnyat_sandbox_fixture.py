"""
The ``taqnyat_sandbox`` fixture as users use it (this file is the example in docs/testing.rst).

Nothing here imports the project's own test helpers: install the provider, and these tests work
in any project whose Airflow can run ``dag.test()``.
"""

from __future__ import annotations

import pytest

from taqnyat_provider.exceptions import IncompleteDeliveryError
from taqnyat_provider.hooks.taqnyat import TaqnyatHook
from taqnyat_provider.notifications.sms import send_taqnyat_sms


def test_a_failure_notifier_texts_the_on_call_engineer(taqnyat_sandbox):
    notify = send_taqnyat_sms(body="Nightly load failed", recipients=["+966 50 000 0000"])
    notify.notify({})

    [request] = taqnyat_sandbox.received("sms")
    assert request.body == {
        "recipients": ["966500000000"],
        "body": "Nightly load failed",
        "sender": "Taqnyat.sa",
    }
    assert request.headers["Authorization"] == "Bearer <redacted>"
    assert taqnyat_sandbox.texted_numbers() == ["966500000000"]


def test_an_outage_in_the_middle_of_a_bulk_call_never_calls_anyone_twice(taqnyat_sandbox):
    taqnyat_sandbox.inject("drop", endpoint="voice", skip=1)  # the 2nd request's answer is lost
    rota = ["966500000000", "966512345678", "966551234567"]

    with pytest.raises(IncompleteDeliveryError) as failure:
        TaqnyatHook().place_voice_calls("https://cdn.example.com/alert.mp3", rota, batch_size=1)

    assert failure.value.reached == ["966500000000"]
    assert failure.value.maybe_reached == ["966512345678"]
    assert failure.value.not_reached == ["966551234567"]
    assert len(taqnyat_sandbox.received("voice")) == 2


def test_another_connection_id_and_a_low_balance(taqnyat_sandbox):
    conn_id = taqnyat_sandbox.connect("taqnyat_marketing", sender="Taqnyat.sa")
    taqnyat_sandbox.set_balance("12.5")

    assert TaqnyatHook(conn_id).get_balance().balance == 12.5
    assert [r.endpoint for r in taqnyat_sandbox.received()] == ["balance"]


def test_the_fixture_is_a_registered_plugin(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("taqnyat_sandbox")
    assert plugin is not None and plugin.__name__ == "taqnyat_provider.testing"
