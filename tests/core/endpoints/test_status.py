"""The status endpoint's answer (core/endpoints/status.py): operational or not, and errors."""

from __future__ import annotations

import pytest

from taqnyat_provider import exceptions as exc
from taqnyat_provider.core.endpoints.status import parse_system_status
from tests.core import reference_examples as ref


class TestReferenceExamples:
    def test_status_example_is_operational(self):
        status = parse_system_status(200, ref.STATUS_OK)
        assert status.operational is True
        assert status.service == "none"
        assert status.description == "All Services are Operational"

    def test_method_not_allowed_example(self):
        with pytest.raises(exc.TaqnyatMethodNotAllowedError) as raised:
            parse_system_status(405, ref.METHOD_NOT_ALLOWED)
        assert raised.value.http_status == 405


class TestOtherResponses:
    def test_degraded_status(self):
        status = parse_system_status(
            200, '{"statusCode":200,"status":{"service":"voice","description":"Voice service is degraded"}}'
        )
        assert status.operational is False
        assert status.service == "voice"

    def test_status_with_none_service_but_troubled_description(self):
        body = '{"statusCode":200,"status":{"service":"none","description":"Partial outage"}}'
        assert parse_system_status(200, body).operational is False

    def test_status_body_code_disagreeing_with_http(self):
        with pytest.raises(exc.TaqnyatResponseError):
            parse_system_status(200, '{"statusCode": 503, "status": {"service": "none"}}')
