"""schemathesis against the running stack's own OpenAPI document: every operation, with valid keys, must
never answer 5xx nor break the documented schema (status, content type, body).

The example count per operation is bounded for CI (CARTHOUSE_FUZZ_EXAMPLES, default 25); a longer run:
CARTHOUSE_FUZZ_EXAMPLES=500 make test PYTEST_ARGS=tests/fuzz.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.descriptors import ApiDescriptors
from gateway.openapi import openapi_document
from tests.conftest import ShopKeys
from tests.gateway_fixture import running_gateway

EXAMPLES = int(os.environ.get("CARTHOUSE_FUZZ_EXAMPLES", "25"))
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)

# The document the gateway serves at GET /openapi.json (test_served_document_is_the_one_fuzzed checks that).
DOCUMENT = openapi_document(ApiDescriptors())
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def base_url(stack, redis_server) -> Iterator[str]:
    with running_gateway(stack.target, redis_server.url, rate_limit_per_min=1_000_000) as url:
        yield url


@pytest.fixture(scope="module")
def shop(new_appspace) -> ShopKeys:
    return new_appspace("growth")


def test_served_document_is_the_one_fuzzed(base_url: str) -> None:
    assert httpx.get(f"{base_url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_schema_kept(case, base_url: str, shop: ShopKeys) -> None:
    case.call_and_validate(base_url=base_url, headers={"X-API-Key": shop.secret_key}, checks=CHECKS)
