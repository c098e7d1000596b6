from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from taqnyat_provider.airflow_errors import airflow_semantics, to_airflow
from taqnyat_provider.core import error_codes
from taqnyat_provider.core import errors as exc


@pytest.mark.parametrize("code", sorted(error_codes.CATALOG))
def test_each_code_has_its_class_and_full_message(code):
    entry = error_codes.CATALOG[code]
    error = exc.api_error(code, http_status=entry.http_status)
    assert type(error) is exc.API_ERRORS_BY_CODE[code]
    assert error.code == code
    assert error.message_en == entry.message_en
    assert error.message_ar == entry.message_ar
    text = str(error)
    for part in (f"error {code}", entry.message_en, entry.message_ar, entry.remedy):
        assert part in text
    assert not error.retryable


def test_401_without_code_is_invalid_token():
    error = exc.api_error(None, "invalid credentials information", http_status=401)
    assert isinstance(error, exc.TaqnyatInvalidTokenError)
    assert error.code == 104


def test_405():
    error = exc.api_error(None, http_status=405)
    assert isinstance(error, exc.TaqnyatMethodNotAllowedError)
    assert "Method Not Allowed" in str(error)


def test_unknown_code():
    error = exc.api_error(77, "New error", http_status=400)
    assert type(error) is exc.TaqnyatApiError
    assert error.code == 77
    assert str(error) == "Taqnyat error 77 (HTTP 400): New error."


def test_retry_safety_is_in_the_type_and_airflow_acts_on_it():
    # Errors after which a retry could call somebody twice must not be retried by Airflow.
    for never_retried in (
        exc.TaqnyatDeliveryUnknownError("x"),
        exc.IncompleteDeliveryError(
            reached=["1"],
            maybe_reached=[],
            not_reached=["2"],
            failed_batch=2,
            total_batches=2,
            cause=ValueError(),
        ),
        exc.UnresolvedDeliveryError(maybe_reached=["1"], batches=[1], total_batches=1, key="k"),
        exc.TaqnyatRecipientsRejectedError(["1"]),
        exc.InvalidInputError("x"),
        exc.LedgerMismatchError("x"),
    ):
        assert not never_retried.retryable
        assert isinstance(to_airflow(never_retried), AirflowFailException)
    for retried in (
        exc.TaqnyatTransientError("429"),
        exc.LedgerUnavailableError("down"),
        exc.DeliveryInterruptedError(
            reached=["1"],
            maybe_reached=[],
            not_reached=["2"],
            failed_batch=2,
            total_batches=2,
            cause=ValueError(),
        ),
    ):
        airflow_error = to_airflow(retried)
        assert isinstance(airflow_error, AirflowException)
        assert not isinstance(airflow_error, AirflowFailException)


def test_the_boundary_keeps_the_original_as_cause_and_its_name_in_the_message():
    with pytest.raises(AirflowFailException) as raised, airflow_semantics():
        raise exc.TaqnyatInvalidTokenError(104)
    assert isinstance(raised.value.__cause__, exc.TaqnyatInvalidTokenError)
    assert str(raised.value).startswith("TaqnyatInvalidTokenError: Taqnyat error 104")


def test_errors_are_plain_exceptions():
    assert not isinstance(exc.TaqnyatError("x"), AirflowException)


def test_english_arabic_and_the_remedy_are_separate_sentences():
    text = str(exc.api_error(104, http_status=401))
    entry = error_codes.CATALOG[104]
    assert text == f"Taqnyat error 104 (HTTP 401): {entry.message_en}. {entry.message_ar}. {entry.remedy}"
