"""The openexchangerates provider against a local HTTP server serving responses in OXR's format
(tests/fixtures/openexchangerates), with real ClickHouse and Redis behind the rate repository."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.redis_server import connect
from carthouse.store import Store
from services.fx.conversion import ConversionError
from services.fx.converter import FxConverter
from services.fx.rates import EcbFeedProvider, OpenExchangeRatesProvider, ProviderUnavailable
from services.fx.storage import RateRepository

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openexchangerates"
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


class RecordedOxr(BaseHTTPRequestHandler):
    failing = False
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        RecordedOxr.requests.append(self.path)
        name = self.path.split("?")[0].removeprefix("/api/").replace("historical/", "historical-")
        file = FIXTURES / name
        if RecordedOxr.failing or "app_id=test-app" not in self.path or not file.exists():
            self.send_response(503 if RecordedOxr.failing else 404)
            self.end_headers()
            return
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def oxr_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedOxr)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


@pytest.fixture
def converter(oxr_url: str, store: Store, redis_server) -> FxConverter:
    RecordedOxr.failing = False
    RecordedOxr.requests.clear()
    client = connect(redis_server.url)
    for key in client.scan_iter("fx:openexchangerates:*"):
        client.delete(key)
    store.execute("TRUNCATE TABLE fx_rates")
    provider = OpenExchangeRatesProvider("test-app", oxr_url, clock=lambda: NOW)
    return FxConverter(RateRepository(provider, store, client))


def test_three_decimal_currency_converts_exactly(converter: FxConverter) -> None:
    backfill = datetime(2026, 10, 30, 15, tzinfo=UTC)
    into_usd = converter.convert(Decimal("12.345"), "KWD", "USD", backfill)
    assert into_usd.minor_units == 4019  # 12.345 / 0.3072 = 40.185546875 USD -> 4019 cents
    into_kwd = converter.convert(Decimal("10"), "USD", "KWD", backfill)
    assert into_kwd.minor_units == 3072  # 10 * 0.3072 = 3.072 KWD -> 3072 fils (3 decimals)
    cross = converter.convert(Decimal("12.345"), "KWD", "BHD", backfill)
    assert cross.minor_units == 15110  # 12.345 * 0.376 / 0.3072 = 15.109765625 BHD -> 15.110 (3 decimals)
    assert into_usd.as_of == datetime(2026, 10, 30, tzinfo=UTC)


def test_todays_events_use_the_hourly_latest_rates(converter: FxConverter) -> None:
    today = converter.convert(Decimal("12.345"), "KWD", "USD", datetime(2026, 11, 26, 8, tzinfo=UTC))
    assert today.minor_units == 4015  # 12.345 / 0.3075 = 40.146341... USD
    assert today.as_of == datetime(2026, 11, 26, 9, tzinfo=UTC)
    assert [p.split("?")[0] for p in RecordedOxr.requests] == ["/api/latest.json"]


def test_each_period_is_fetched_once_and_kept_in_fx_rates(converter: FxConverter, store: Store) -> None:
    moment = datetime(2026, 10, 30, 1, tzinfo=UTC)
    for _ in range(3):
        converter.convert(Decimal("1"), "EUR", "USD", moment)
    assert len(RecordedOxr.requests) == 1
    rows = store.query("SELECT currency, toString(rate) AS rate FROM fx_rates FINAL"
                       " WHERE provider = 'openexchangerates' ORDER BY currency")
    assert {row["currency"]: row["rate"] for row in rows}["KWD"] == "0.3072"
    assert len(rows) == 6


def test_fetch_failures_keep_the_last_good_rates(converter: FxConverter, caplog) -> None:
    first = converter.convert(Decimal("10"), "USD", "KWD", NOW)
    assert first.minor_units == 3075
    RecordedOxr.failing = True
    provider: OpenExchangeRatesProvider = converter._repository.provider  # type: ignore[assignment]
    later = provider.fetch(datetime(2026, 11, 26, 10, tzinfo=UTC))
    assert later.rates["KWD"] == Decimal("0.3075")
    assert provider.last_error.startswith("latest.json")
    assert any("openexchangerates fetch failed" in r.message for r in caplog.records)


def test_unreachable_provider_without_earlier_rates_is_unavailable(converter: FxConverter) -> None:
    RecordedOxr.failing = True
    with pytest.raises(ProviderUnavailable):
        converter.convert(Decimal("1"), "EUR", "USD", datetime(2026, 10, 29, tzinfo=UTC))


def test_currencies_it_does_not_list_are_unsupported(converter: FxConverter) -> None:
    with pytest.raises(ConversionError, match="Unsupported currency: ISK"):
        converter.convert(Decimal("1"), "ISK", "USD", datetime(2026, 10, 30, tzinfo=UTC))


# ---------------------------------------------------------------- the ECB 90-day feed


class EcbFeed(BaseHTTPRequestHandler):
    failing = False
    hits = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        EcbFeed.hits += 1
        if EcbFeed.failing:
            self.send_response(500)
            self.end_headers()
            return
        body = (FIXTURES.parent / "ecb-hist-90d.xml").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ecb(store: Store, redis_server) -> Iterator[tuple[FxConverter, EcbFeedProvider]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EcbFeed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    EcbFeed.failing, EcbFeed.hits = False, 0
    client = connect(redis_server.url)
    for key in client.scan_iter("fx:ecb:*"):
        client.delete(key)
    ticks = [0.0]
    provider = EcbFeedProvider(f"http://127.0.0.1:{server.server_address[1]}/feed.xml", clock=lambda: ticks[0])
    provider.tick = ticks  # type: ignore[attr-defined]
    yield FxConverter(RateRepository(provider, store, client)), provider
    server.shutdown()


def test_ecb_feed_days_and_gaps(ecb) -> None:
    converter, _ = ecb
    on_day = converter.convert(Decimal("49.99"), "EUR", "USD", datetime(2026, 11, 20, 9, tzinfo=UTC))
    assert on_day.minor_units == 5248  # 49.99 * 1.0498 = 52.479502 USD
    gap = converter.convert(Decimal("49.99"), "EUR", "USD", datetime(2026, 11, 22, 9, tzinfo=UTC))
    assert gap.as_of == datetime(2026, 11, 20, tzinfo=UTC)  # a weekend uses the last published day
    newest = converter.convert(Decimal("10000"), "JPY", "GBP", datetime(2026, 11, 26, 9, tzinfo=UTC))
    assert (newest.minor_units, newest.stale) == (5156, True)  # 10000 * 0.8391 / 162.75 = 51.557... GBP
    with pytest.raises(ConversionError, match="No exchange rates for 2026-10-01"):
        converter.convert(Decimal("1"), "EUR", "USD", datetime(2026, 10, 1, tzinfo=UTC))
    assert EcbFeed.hits == 1


def test_ecb_feed_refresh_failure_keeps_the_rates_held(ecb, caplog) -> None:
    converter, provider = ecb
    converter.convert(Decimal("1"), "EUR", "USD", datetime(2026, 11, 25, tzinfo=UTC))
    EcbFeed.failing = True
    provider.tick[0] = 7200.0  # past the refresh interval
    again = converter.convert(Decimal("100"), "EUR", "USD", datetime(2026, 11, 25, tzinfo=UTC))
    assert again.minor_units == 10512
    assert provider.last_error and any("ECB feed refresh failed" in r.message for r in caplog.records)


def test_provider_failures_show_in_the_services_health(store: Store, redis_server, oxr_url: str) -> None:
    import time

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from carthouse import grpc_server
    from carthouse.grpc_server import ServiceBinding, serve
    from carthouse.v1 import fx_pb2_grpc
    from services.fx.servicer import SERVICE_NAME, FxServicer

    provider = OpenExchangeRatesProvider("test-app", oxr_url, clock=lambda: NOW)
    converter = FxConverter(RateRepository(provider, store, connect(redis_server.url)))
    binding = ServiceBinding(SERVICE_NAME, fx_pb2_grpc.add_FxServiceServicer_to_server, FxServicer(converter),
                             healthy=lambda: not provider.last_error)
    grpc_server.HEALTH_POLL_SECONDS = 0.1
    RecordedOxr.failing = False
    converter.convert(Decimal("1"), "EUR", "USD", NOW)

    def status(channel) -> int:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status

    def wait_for(channel, wanted: int) -> None:
        deadline = time.monotonic() + 5
        while status(channel) != wanted:
            assert time.monotonic() < deadline
            time.sleep(0.05)

    try:
        with serve([binding]) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            wait_for(channel, health_pb2.HealthCheckResponse.SERVING)
            RecordedOxr.failing = True
            provider.fetch(datetime(2026, 11, 26, 11, tzinfo=UTC))  # fails: keeps the last good rates
            wait_for(channel, health_pb2.HealthCheckResponse.NOT_SERVING)
            RecordedOxr.failing = False
            provider.fetch(datetime(2026, 11, 26, 12, tzinfo=UTC))
            wait_for(channel, health_pb2.HealthCheckResponse.SERVING)
    finally:
        grpc_server.HEALTH_POLL_SECONDS = 2.0
        RecordedOxr.failing = False
