"""FxService alone, through pytest-grpc's fixtures (grpc_add_to_server, grpc_servicer, grpc_stub_cls): the
servicer over the bundled ECB rates, a real store and a real redis-server, called over a real channel."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import grpc
import pytest

from app.redis_server import connect
from carthouse.v1 import fx_pb2, fx_pb2_grpc
from services.fx.converter import FxConverter
from services.fx.rates import rate_provider
from services.fx.servicer import FxServicer
from services.fx.storage import RateRepository
from tests.support.grpc_errors import DomainErrors


@pytest.fixture(scope="module")
def grpc_add_to_server():
    return fx_pb2_grpc.add_FxServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer(store, redis_server) -> FxServicer:
    return FxServicer(FxConverter(RateRepository(rate_provider("bundled", "", ""), store, connect(redis_server.url))))


@pytest.fixture(scope="module")
def grpc_stub_cls(grpc_channel):
    return fx_pb2_grpc.FxServiceStub


@pytest.fixture(scope="module")
def grpc_interceptors():
    return [DomainErrors()]


def test_amounts_convert_at_the_rate_the_service_reports(grpc_stub) -> None:
    request = fx_pb2.ConvertAmountsRequest(base_currency="USD", amounts=[
        fx_pb2.Amount(amount="100", currency="EUR", event_time="2026-10-20T12:00:00Z"),
        fx_pb2.Amount(amount="49.99", currency="USD", event_time="2026-10-20T12:00:00Z"),
        fx_pb2.Amount(amount="5", currency="XYZ", event_time="2026-10-20T12:00:00Z"),
    ])
    eur, usd, unknown = grpc_stub.ConvertAmounts(request).results
    # 100 EUR at the reported rate, in cents, half-even: the one rounding the product applies.
    assert eur.minor_units == int((Decimal(100) * Decimal(eur.rate) * 100).quantize(Decimal(1), ROUND_HALF_EVEN))
    assert eur.minor_units != 10000 and (eur.as_of, eur.stale) == ("2026-10-20T00:00:00Z", False)
    assert (usd.minor_units, usd.rate) == (4999, "1")
    assert unknown.error and unknown.minor_units == 0


def test_a_bad_date_is_an_invalid_argument(grpc_stub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_stub.GetRates(fx_pb2.GetRatesRequest(base_currency="USD", date="20-11-2026"))
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                             "date must be YYYY-MM-DD")


def test_currencies_of_the_bundled_rates(grpc_stub) -> None:
    codes = set(grpc_stub.ListCurrencies(fx_pb2.ListCurrenciesRequest()).currencies)
    assert {"USD", "EUR", "GBP", "JPY"} <= codes and "XYZ" not in codes
