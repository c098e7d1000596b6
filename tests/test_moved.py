"""0.2.0's module paths still import, warn once naming the new home, and give the very same objects."""

from __future__ import annotations

import subprocess
import sys

import pytest

from taqnyat_provider._moved import MOVED

# A name users of 0.2.0 imported from each old path, and where it lives now.
NAMES = {
    "taqnyat_provider.messages": ("VoiceCall", "taqnyat_provider.core.endpoints.voice"),
    "taqnyat_provider.sends": ("SmsMessage", "taqnyat_provider.core.endpoints.sms"),
    "taqnyat_provider.responses": ("parse_balance", "taqnyat_provider.core.endpoints.account"),
    "taqnyat_provider.api": ("system_status", "taqnyat_provider.core.endpoints.status"),
    "taqnyat_provider.delivery": ("Delivery", "taqnyat_provider.core.delivery"),
    "taqnyat_provider.retry": ("RetryPolicy", "taqnyat_provider.core.retry"),
    "taqnyat_provider.steps": ("drive", "taqnyat_provider.core.steps"),
    "taqnyat_provider.sms": ("measure_sms", "taqnyat_provider.core.sms_text"),
    "taqnyat_provider.network_route": ("network_route", "taqnyat_provider.hooks.network_route"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_each_old_path_imports_with_a_warning_naming_its_new_home(old):
    # A fresh interpreter: the module may already sit in this one's sys.modules, which skips the warning.
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    importlib.import_module({old!r})\n"
        "print([(str(w.message), w.category.__name__) for w in caught])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    [(message, category)] = eval(done.stdout)
    assert category == "DeprecationWarning"
    assert message.startswith(f"{old} is deprecated: import from {MOVED[old][0]}")


@pytest.mark.parametrize(("old", "name_and_home"), sorted(NAMES.items()))
def test_an_old_path_gives_the_same_object_as_the_new_one(old, name_and_home):
    import importlib

    name, home = name_and_home
    sys.modules.pop(old, None)  # imported afresh, so that it warns
    with pytest.warns(DeprecationWarning):
        moved = importlib.import_module(old)
    sys.modules.pop(old)
    assert getattr(moved, name) is getattr(importlib.import_module(home), name)


def test_a_name_that_is_in_no_new_home_is_an_attribute_error():
    import importlib

    sys.modules.pop("taqnyat_provider.messages", None)
    with pytest.warns(DeprecationWarning):
        messages = importlib.import_module("taqnyat_provider.messages")
    sys.modules.pop("taqnyat_provider.messages")
    with pytest.raises(AttributeError, match=r"taqnyat_provider\.messages.*no_such_name"):
        messages.no_such_name  # noqa: B018


def test_0_2_0_delivery_names_that_moved_in_0_2_0_still_resolve():
    import importlib

    from taqnyat_provider.core.steps import Failure

    sys.modules.pop("taqnyat_provider.delivery", None)
    with pytest.warns(DeprecationWarning):
        old_delivery = importlib.import_module("taqnyat_provider.delivery")
        assert old_delivery.Failure is Failure  # warns again: Failure moved out of delivery in 0.2.0
    sys.modules.pop("taqnyat_provider.delivery")


def test_an_old_path_with_one_home_is_that_module_so_a_patch_reaches_the_provider():
    from unittest import mock

    from taqnyat_provider.core import retry
    from taqnyat_provider.hooks.transport import policy_or_default

    sys.modules.pop("taqnyat_provider.retry", None)
    fast = retry.RetryPolicy(backoff_seconds=0.01)
    with pytest.warns(DeprecationWarning), mock.patch("taqnyat_provider.retry.DEFAULT_RETRY_POLICY", fast):
        assert policy_or_default(None) is fast  # 0.2.0's own fast_retries pattern
    assert sys.modules["taqnyat_provider.retry"] is retry


def test_an_old_path_with_several_homes_lists_and_star_imports_their_names():
    sys.modules.pop("taqnyat_provider.messages", None)
    names: dict = {}
    with pytest.warns(DeprecationWarning):
        exec("from taqnyat_provider.messages import *", names)
    assert {"VoiceCall", "SmsMessage", "PreparedSend", "VOICE_ENDPOINT", "SMS_ENDPOINT"} <= set(names)
    assert "VoiceCall" in dir(sys.modules["taqnyat_provider.messages"])


def test_the_errors_keep_their_public_module_name_in_tracebacks_and_pickles():
    import pickle

    from taqnyat_provider import exceptions

    error = exceptions.TaqnyatDeliveryUnknownError("lost", http_status=None)
    assert type(error).__module__ == "taqnyat_provider.exceptions"
    assert b"taqnyat_provider.exceptions" in pickle.dumps(error)
    assert type(pickle.loads(pickle.dumps(error))) is exceptions.TaqnyatDeliveryUnknownError
