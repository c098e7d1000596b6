"""The scheduled-SMS delete endpoint's answer (core/endpoints/sms_delete.py): the acknowledgement."""

from __future__ import annotations

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.sms_delete import parse_acknowledgement
from tests.core import reference_examples as ref


def test_delete_acknowledgement():
    assert parse_acknowledgement(201, ref.SMS_DELETED).message == "Deleted successfully"
    with pytest.raises(exc.TaqnyatApiError, match="no scheduled message"):
        parse_acknowledgement(404, '{"statusCode":404,"message":"no scheduled message with deleteId 5"}')
    with pytest.raises(exc.TaqnyatResponseError):
        parse_acknowledgement(200, "{}")
