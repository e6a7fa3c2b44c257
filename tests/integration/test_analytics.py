"""Analytics I on a hand-built data set: every expected number below was computed by hand (the arithmetic is
in the comments). Events go in through IngestService (secret key, explicit timestamps and context), queries
come out through the REST gateway, as a user would call them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from carthouse.v1 import events_pb2, ingest_pb2
from services.analytics.last_touches import store_round
from services.analytics.queries import channels
from services.analytics.queries.scope import scope_params
from tests.builders import ev, item, key
from tests.conftest import ShopKeys

API = "/v1/api/analytics/ecommerce"
TODAY = datetime.now(UTC).date()
B = TODAY - timedelta(days=5)  # day 0 of the data set
MOBILE = {"device_type": "mobile", "platform": "ios", "country": "US"}
DESKTOP = {"device_type": "desktop", "platform": "web", "country": "GB"}
TABLET = {"device_type": "tablet", "platform": "android", "country": "DE"}


def at(day: int, hhmm: str) -> str:
    return f"{B + timedelta(days=day)}T{hhmm}:00Z"


U1, U2, A3, U4, U5, U6 = ({"user_id": "u1"}, {"user_id": "u2"}, {"anonymous_id": "a3"}, {"user_id": "u4"},
                          {"user_id": "u5"}, {"user_id": "u6"})
SPRING = {"campaign": "spring", "source": "email", "medium": "newsletter"}
RETARGET = {"utm_campaign": "retarget", "utm_source": "google", "utm_medium": "cpc"}


def data_set() -> list[events_pb2.EcommerceEvent]:
    recent = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        # u1 walks the whole funnel on day 0 and buys with a coupon, from an email campaign.
        ev("view_item", U1, at(0, "10:00"), MOBILE, items=[item("sku_1", 20)]),
        ev("add_to_cart", U1, at(0, "10:05"), MOBILE, cart_id="c1", items=[item("sku_1", 20, 2)]),
        ev("view_cart", U1, at(0, "10:06"), MOBILE, cart_id="c1"),
        ev("begin_checkout", U1, at(0, "10:07"), MOBILE, cart_id="c1"),
        ev("add_payment_info", U1, at(0, "10:08"), MOBILE, cart_id="c1"),
        ev("purchase", U1, at(0, "10:10"), MOBILE, cart_id="c1", transaction_id="o1", revenue=45.50, shipping=5.50,
           coupon_code="SAVE10", discount=4.00, items=[item("sku_1", 20, 2)], properties=SPRING),
        # u2 comes from a Google ad (utm_*), adds to cart, buys without cart_id and without a campaign of its own.
        ev("view_item", U2, at(1, "08:00"), DESKTOP, items=[item("sku_2", 30)], properties=RETARGET),
        ev("add_to_cart", U2, at(1, "09:01"), DESKTOP, cart_id="c2", items=[item("sku_2", 30)]),
        ev("purchase", U2, at(1, "09:30"), DESKTOP, transaction_id="o2", revenue=30.00, items=[item("sku_2", 30)]),
        # 10.00 of o1 refunded.
        ev("refund", U1, at(2, "12:00"), MOBILE, transaction_id="o1", revenue=10.00),
        # An anonymous cart left behind: 20 x 1 + 15 x 2 - 15 x 1 = 35.00.
        ev("add_to_cart", A3, at(2, "10:00"), TABLET, items=[item("sku_1", 20)]),
        ev("add_to_cart", A3, at(2, "10:05"), TABLET, items=[item("sku_3", 15, 2)]),
        ev("remove_from_cart", A3, at(2, "10:06"), TABLET, items=[item("sku_3", 15)]),
        # u4 adds to cart before viewing (funnel: step 1 only), then a 150,000 order: flagged (above the
        # 100,000 ceiling), stored, excluded unless include_flagged.
        ev("add_to_cart", U4, at(3, "10:00"), DESKTOP, cart_id="c4", items=[item("sku_2", 30)]),
        ev("view_item", U4, at(3, "10:05"), DESKTOP, items=[item("sku_2", 30)]),
        ev("purchase", U4, at(3, "11:00"), DESKTOP, cart_id="c4", transaction_id="o4", revenue=150000,
           items=[item("sku_2", 30)]),
        # 23:30 UTC on day 4 is 00:30 on day 5 in Europe/Berlin.
        ev("purchase", U5, at(4, "23:30"), TABLET, transaction_id="o5", revenue=12.34),
        # A cart touched ten minutes ago: neither abandoned nor completed yet.
        ev("add_to_cart", U6, recent, MOBILE, cart_id="c6", items=[item("sku_1", 20)]),
    ]


@pytest.fixture(scope="module")
def shop(ingest, new_appspace) -> ShopKeys:
    shop = new_appspace()
    response = ingest.Batch(ingest_pb2.BatchRequest(events=data_set()), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (18, [])
    other = new_appspace()  # another tenant's big order on the same days must never count
    ingest.Batch(ingest_pb2.BatchRequest(events=[
        ev("purchase", U1, at(0, "10:10"), MOBILE, transaction_id="o1", revenue=999, items=[item("sku_1", 999)],
           coupon_code="SAVE10", properties=SPRING),
        ev("add_to_cart", U2, at(1, "09:00"), DESKTOP, items=[item("sku_2", 50)]),
    ]), metadata=key(other.secret_key))
    return shop



RANGE = {"start": str(B - timedelta(days=1)), "end": str(TODAY)}  # 7 days


def get(http: httpx.Client, shop: ShopKeys, endpoint: str, **params: Any) -> dict[str, Any]:
    response = http.get(f"{API}/{endpoint}", params={**RANGE, **params}, headers={"X-API-Key": shop.secret_key})
    assert response.status_code == 200, response.text
    return response.json()


def test_overview(http, shop) -> None:
    assert get(http, shop, "overview") == {
        "total_revenue": 87.84,  # 45.50 + 30.00 + 12.34 (o4 flagged: excluded)
        "net_revenue": 77.84,  # 87.84 - 10.00 refunded
        "total_orders": 3,
        "total_refunds": 1,
        "refund_amount": 10.0,
        "avg_order_value": 29.28,  # 87.84 / 3
        "total_items_sold": 3,  # o1: 2, o2: 1 (o5 has no items)
        "cart_abandonment_rate": 25.0,  # a3 abandoned; c1, c2, c4 completed; c6 idle < 1 h: 1 / 4
        "add_to_cart_rate": 166.7,  # add_to_cart: u1 u2 a3 u4 u6 = 5; view_item: u1 u2 u4 = 3; 5 / 3
        "days": 7,
    }


def test_overview_with_flagged_events(http, shop) -> None:
    overview = get(http, shop, "overview", include_flagged="true")
    assert overview["total_revenue"] == 150087.84  # 87.84 + 150,000
    assert overview["total_orders"] == 4
    assert overview["avg_order_value"] == 37521.96  # 150087.84 / 4
    assert overview["total_items_sold"] == 4


def test_timeseries_zero_filled_and_timezone(http, shop) -> None:
    series = get(http, shop, "revenue-timeseries", start=str(B), end=str(B + timedelta(days=5)))
    assert series == {"series": [
        {"date": str(B), "revenue": 45.5, "orders": 1},
        {"date": str(B + timedelta(days=1)), "revenue": 30.0, "orders": 1},
        {"date": str(B + timedelta(days=2)), "revenue": 0.0, "orders": 0},
        {"date": str(B + timedelta(days=3)), "revenue": 0.0, "orders": 0},
        {"date": str(B + timedelta(days=4)), "revenue": 12.34, "orders": 1},
        {"date": str(B + timedelta(days=5)), "revenue": 0.0, "orders": 0},
    ], "days": 6}
    berlin = get(http, shop, "revenue-timeseries", start=str(B), end=str(B + timedelta(days=5)), tz="Europe/Berlin")
    assert [(d["date"], d["revenue"]) for d in berlin["series"]][4:] == [
        (str(B + timedelta(days=4)), 0.0), (str(B + timedelta(days=5)), 12.34)]


def test_funnel_counts_steps_in_order(http, shop) -> None:
    # u1 reaches every step; u2 view -> add only; u4 added before viewing: step 1 only.
    assert get(http, shop, "funnel")["steps"] == [
        {"name": "view_item", "count": 3, "percentage": 100.0},
        {"name": "add_to_cart", "count": 2, "percentage": 66.7},
        {"name": "view_cart", "count": 1, "percentage": 50.0},
        {"name": "begin_checkout", "count": 1, "percentage": 100.0},
        {"name": "add_payment_info", "count": 1, "percentage": 100.0},
        {"name": "purchase", "count": 1, "percentage": 100.0},
    ]
    # A range longer than the events span: the same counts.
    long_range = get(http, shop, "funnel", start=str(TODAY - timedelta(days=59)), end=str(TODAY))
    assert long_range["steps"] == get(http, shop, "funnel")["steps"] and long_range["days"] == 60


@pytest.fixture(scope="module")
def funnel_shop(ingest, new_appspace) -> ShopKeys:
    """Day D is 12 days ago. f1 walks every step on D and pays 150,000 (flagged: over the 100,000 ceiling); f2
    views on D and adds to cart 8 days later (outside the 7-day window); f3 views and adds at 23:30 and 23:45
    UTC the day before D, which is already day D in Europe/Berlin (UTC+1 or +2)."""
    shop = new_appspace()
    d = TODAY - timedelta(days=12)

    def on(day: date, hhmm: str) -> str:
        return f"{day}T{hhmm}:00Z"

    f1, f2, f3 = {"user_id": "f1"}, {"user_id": "f2"}, {"user_id": "f3"}
    steps = ["view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info"]
    events = [ev(step, f1, on(d, f"10:0{n}"), items=[item("sku_1", 20)]) for n, step in enumerate(steps)]
    events += [
        ev("purchase", f1, on(d, "10:09"), transaction_id="f1-o", revenue=150000, items=[item("sku_1", 20)]),
        ev("view_item", f2, on(d, "10:00"), items=[item("sku_2", 30)]),
        ev("add_to_cart", f2, on(d + timedelta(days=8), "10:00"), items=[item("sku_2", 30)]),
        ev("view_item", f3, on(d - timedelta(days=1), "23:30"), items=[item("sku_3", 15)]),
        ev("add_to_cart", f3, on(d - timedelta(days=1), "23:45"), items=[item("sku_3", 15)]),
    ]
    response = ingest.Batch(ingest_pb2.BatchRequest(events=events), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (10, [])
    return shop


def test_funnel_window_flagged_steps_and_time_zone_days(http, funnel_shop) -> None:
    d = TODAY - timedelta(days=12)

    def counts(**params: Any) -> list[int]:
        return [step["count"] for step in get(http, funnel_shop, "funnel", end=str(TODAY), **params)["steps"]]

    # From the day before D (UTC): f1 reaches add_payment_info (its purchase is flagged), f2 only view_item
    # (its add_to_cart is 8 days after its view), f3 add_to_cart.
    assert counts(start=str(d - timedelta(days=1))) == [3, 2, 1, 1, 1, 0]
    assert counts(start=str(d - timedelta(days=1)), include_flagged="true") == [3, 2, 1, 1, 1, 1]
    # From D in UTC f3's events are the day before; from D in Europe/Berlin they are on it.
    assert counts(start=str(d)) == [2, 1, 1, 1, 1, 0]
    assert counts(start=str(d), tz="Europe/Berlin") == [3, 2, 1, 1, 1, 0]


def test_top_products(http, shop) -> None:
    assert get(http, shop, "top-products")["products"] == [
        {"item_id": "sku_1", "item_name": "T-Shirt", "revenue": 40.0, "quantity": 2, "orders": 1},  # 20 x 2
        {"item_id": "sku_2", "item_name": "Hoodie", "revenue": 30.0, "quantity": 1, "orders": 1},
    ]
    flagged = get(http, shop, "top-products", include_flagged="true", limit=1)["products"]
    assert flagged == [{"item_id": "sku_2", "item_name": "Hoodie", "revenue": 60.0, "quantity": 2, "orders": 2}]


def test_top_products_limit_rules(http, shop) -> None:
    response = http.get(f"{API}/top-products", params={"limit": 0}, headers={"X-API-Key": shop.secret_key})
    assert (response.status_code, response.json()) == (400, {"error": "limit must be a positive whole number, got 0"})
    assert len(get(http, shop, "top-products", limit=1000)["products"]) == 2  # clamped to 100, two exist


def test_breakdowns(http, shop) -> None:
    assert get(http, shop, "revenue-by-device")["devices"] == [
        {"device_type": "mobile", "revenue": 45.5, "orders": 1},
        {"device_type": "desktop", "revenue": 30.0, "orders": 1},
        {"device_type": "tablet", "revenue": 12.34, "orders": 1},
    ]
    assert get(http, shop, "revenue-by-platform")["platforms"] == [
        {"platform": "ios", "revenue": 45.5, "orders": 1},
        {"platform": "web", "revenue": 30.0, "orders": 1},
        {"platform": "android", "revenue": 12.34, "orders": 1},
    ]
    assert get(http, shop, "revenue-by-country")["countries"] == [
        {"country": "US", "revenue": 45.5, "orders": 1},
        {"country": "GB", "revenue": 30.0, "orders": 1},
        {"country": "DE", "revenue": 12.34, "orders": 1},
    ]
    # With the flagged order, desktop leads: 30.00 + 150,000.
    assert get(http, shop, "revenue-by-device", include_flagged="true")["devices"][0] == {
        "device_type": "desktop", "revenue": 150030.0, "orders": 2}
    assert get(http, shop, "revenue-by-coupon") == {"coupons": [
        {"coupon_code": "SAVE10", "revenue": 45.5, "orders": 1, "avg_discount": 4.0}], "days": 7}


def test_revenue_by_channel(http, shop) -> None:
    assert get(http, shop, "revenue-by-channel")["channels"] == [
        # o1 carries its own campaign; u1 was touched by it (the purchase itself): 1 / 1.
        {"campaign": "spring", "source": "email", "medium": "newsletter", "revenue": 45.5, "orders": 1,
         "conversion_rate": 100.0},
        # o2 has none: u2's last touch (the utm_* view 90 minutes earlier); u2 touched: 1 / 1.
        {"campaign": "retarget", "source": "google", "medium": "cpc", "revenue": 30.0, "orders": 1,
         "conversion_rate": 100.0},
        # o5: no touch. Actors active without any touch: a3, u4, u5, u6 -> 1 / 4.
        {"campaign": "(direct)", "source": "(direct)", "medium": "(none)", "revenue": 12.34, "orders": 1,
         "conversion_rate": 25.0},
    ]


def test_cart_abandonment(http, shop) -> None:
    assert get(http, shop, "cart-abandonment") == {
        "abandonment_rate": 25.0, "abandoned_carts": 1, "abandoned_revenue": 35.0, "completed_carts": 3, "days": 7}


def test_empty_appspace_is_all_zeros(http, new_appspace) -> None:
    empty = new_appspace()
    assert get(http, empty, "overview") == {
        "total_revenue": 0.0, "net_revenue": 0.0, "total_orders": 0, "total_refunds": 0, "refund_amount": 0.0,
        "avg_order_value": 0.0, "total_items_sold": 0, "cart_abandonment_rate": 0.0, "add_to_cart_rate": 0.0,
        "days": 7}
    assert [s["percentage"] for s in get(http, empty, "funnel")["steps"]] == [100.0, 0, 0, 0, 0, 0]
    assert get(http, empty, "cart-abandonment") == {
        "abandonment_rate": 0.0, "abandoned_carts": 0, "abandoned_revenue": 0.0, "completed_carts": 0, "days": 7}
    for endpoint, field in [("top-products", "products"), ("revenue-by-channel", "channels"),
                            ("revenue-by-device", "devices"), ("revenue-by-coupon", "coupons")]:
        assert get(http, empty, endpoint)[field] == [], endpoint


def test_date_range_rules(http, shop, new_appspace) -> None:
    headers = {"X-API-Key": shop.secret_key}
    for params, message in [
        ({"days": 0}, "days must be a positive whole number, got 0"),
        ({"start": str(B)}, "start and end must be given together"),
        ({"start": str(B), "end": str(B - timedelta(days=1))}, "end must not be before start"),
        ({"start": "yesterday", "end": str(B)}, "start must be an ISO date (YYYY-MM-DD), got 'yesterday'"),
        ({"tz": "Mars/Olympus"}, "tz must be an IANA time zone name such as Europe/Berlin, got 'Mars/Olympus'"),
    ]:
        response = http.get(f"{API}/overview", params=params, headers=headers)
        assert (response.status_code, response.json()) == (400, {"error": message}), params
    bad = http.get(f"{API}/overview", params={"days": "abc"}, headers=headers)
    assert bad.status_code == 400 and "days" in bad.json()["error"]
    assert http.get(f"{API}/overview", headers=headers).json()["days"] == 30
    # standard plan: 90 days of retention.
    standard = new_appspace("standard")
    assert http.get(f"{API}/overview", params={"days": 365},
                    headers={"X-API-Key": standard.secret_key}).json()["days"] == 90
    start = str(date.today() - timedelta(days=400))
    assert http.get(f"{API}/overview", params={"start": start, "end": str(TODAY)},
                    headers={"X-API-Key": standard.secret_key}).json()["days"] == 90


def test_multi_currency_revenue_is_summed_in_the_base_currency(ingest, store, http, new_appspace) -> None:
    shop = new_appspace()
    ingest.Batch(ingest_pb2.BatchRequest(events=[
        ev("purchase", U1, at(0, "10:10"), MOBILE, transaction_id="usd", revenue=45.50),
        ev("purchase", U2, at(0, "11:00"), DESKTOP, transaction_id="eur", revenue=100, currency="EUR"),
    ]), metadata=key(shop.secret_key))
    row = store.query("SELECT revenue, fx_rate FROM events WHERE appspace_id = {a:String} AND transaction_id = 'eur'",
                      {"a": shop.appspace_id})[0]
    # 100 EUR at that day's rate, in cents, half-even: the arithmetic FxService and ingest share.
    from decimal import ROUND_HALF_EVEN, Decimal
    cents = int((Decimal(100) * Decimal(str(row["fx_rate"])) * 100).quantize(Decimal(1), ROUND_HALF_EVEN))
    assert int(row["revenue"]) == cents and cents != 10000
    overview = get(http, shop, "overview")
    assert overview["total_revenue"] == float(Decimal(4550 + cents) / 100)
    assert overview["avg_order_value"] == float((Decimal(4550 + cents) / 2).quantize(Decimal(1), ROUND_HALF_EVEN) / 100)


def test_user_journey(http, shop) -> None:
    journey = get(http, shop, "user-journey", user_id="u1")
    assert journey["user_id"] == "u1"
    assert [e["event_type"] for e in journey["events"]] == [
        "view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info", "purchase", "refund"]
    first, purchase, refund = journey["events"][0], journey["events"][5], journey["events"][6]
    assert first["timestamp"] == f"{B}T10:00:00Z"
    assert first["items"] == [{"item_id": "sku_1", "item_name": "T-Shirt", "price": 20.0, "quantity": 1}]
    assert (purchase["transaction_id"], purchase["revenue"]) == ("o1", 45.5)
    assert purchase["properties"] == SPRING
    assert purchase["items"] == [{"item_id": "sku_1", "item_name": "T-Shirt", "price": 20.0, "quantity": 2}]
    assert (refund["transaction_id"], refund["revenue"], refund["items"]) == ("o1", 10.0, [])
    assert "revenue" not in first
    assert [e["event_type"] for e in get(http, shop, "user-journey", user_id="u1", limit=2)["events"]] == [
        "view_item", "add_to_cart"]
    # The date range applies: day 2 (the refund) only.
    day2 = get(http, shop, "user-journey", user_id="u1", start=str(B + timedelta(days=2)),
               end=str(B + timedelta(days=2)))
    assert [e["event_type"] for e in day2["events"]] == ["refund"]
    assert get(http, shop, "user-journey", user_id="nobody")["events"] == []
    missing = http.get(f"{API}/user-journey", headers={"X-API-Key": shop.secret_key})
    assert (missing.status_code, missing.json()) == (400, {"error": "user_id is required"})


def test_cohorts_across_a_year_and_a_time_zone_boundary(ingest, http, new_appspace) -> None:
    year = TODAY.year if TODAY.month >= 4 else TODAY.year - 1
    dec, jan = f"{year - 1}-12", f"{year}-01"
    shop = new_appspace("enterprise", timezone="Europe/Berlin")
    response = ingest.Batch(ingest_pb2.BatchRequest(events=[
        # v1: 23:30 UTC on 31 December is 00:30 on 1 January in Berlin: a January customer there.
        ev("purchase", {"user_id": "v1"}, f"{year - 1}-12-31T23:30:00Z", transaction_id="v1a", revenue=100),
        ev("purchase", {"user_id": "v1"}, f"{year}-02-10T12:00:00Z", transaction_id="v1b", revenue=50),
        ev("refund", {"user_id": "v1"}, f"{year}-03-05T12:00:00Z", transaction_id="v1b", revenue=30),
        ev("purchase", {"user_id": "v2"}, f"{year - 1}-12-15T12:00:00Z", transaction_id="v2a", revenue=40),
        ev("purchase", {"user_id": "v2"}, f"{year}-01-20T12:00:00Z", transaction_id="v2b", revenue=60),
        ev("purchase", {"user_id": "v3"}, f"{year}-01-10T12:00:00Z", transaction_id="v3a", revenue=20),
    ]), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (6, [])
    months = (TODAY.year - year + 1) * 12 + TODAY.month - 11  # December of year - 1 .. this month, inclusive
    berlin = get(http, shop, "cohorts", months=months)
    assert [c["month"] for c in berlin["cohorts"]][-2:] == [jan, dec]  # newest first
    by_month = {c["month"]: c for c in berlin["cohorts"]}
    january, december = by_month[jan], by_month[dec]
    assert january["users"] == 2  # v1, v3
    assert december["users"] == 1  # v2
    # January: 100 (v1) + 20 (v3) in month 0; v1's 50 in month 1; its 30 refund in month 2.
    assert [january["revenue_by_month"][str(k)] for k in range(3)] == [120.0, 50.0, -30.0]
    # December: v2's 40, then 60 in January.
    assert [december["revenue_by_month"][str(k)] for k in range(2)] == [40.0, 60.0]
    assert len(december["revenue_by_month"]) == months  # "0" .. up to the current month, zero-filled
    assert {december["revenue_by_month"][str(k)] for k in range(2, months)} == {0.0}
    assert berlin["total_purchasing_users"] == 3
    assert berlin["avg_ltv"] == 80.0  # (120 + 50 - 30 + 40 + 60) / 3
    assert (january["ltv"], december["ltv"]) == (70.0, 100.0)  # (120 + 50 - 30) / 2, (40 + 60) / 1
    assert {c["ltv"] for c in berlin["cohorts"] if not c["users"]} <= {0.0}
    # In UTC v1 is a December customer.
    utc = {c["month"]: c for c in get(http, shop, "cohorts", months=months, tz="UTC")["cohorts"]}
    assert (utc[dec]["users"], utc[jan]["users"]) == (2, 1)
    assert [utc[dec]["revenue_by_month"][str(k)] for k in range(4)] == [140.0, 60.0, 50.0, -30.0]
    for months_value, status in [(0, 400), (25, 400), (24, 200)]:
        assert http.get(f"{API}/cohorts", params={"months": months_value},
                        headers={"X-API-Key": shop.secret_key}).status_code == status


@pytest.fixture(scope="module")
def touched_shop(ingest, new_appspace) -> ShopKeys:
    """Purchases two days ago at noon; touches at known ages before them (campaigns alpha..delta)."""
    shop = new_appspace()
    bought = datetime.combine(TODAY - timedelta(days=2), datetime.min.time(), UTC) + timedelta(hours=12)

    def stamp(days_before: int) -> str:
        return (bought - timedelta(days=days_before)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def touch(user: str, campaign: str, days_before: int) -> events_pb2.EcommerceEvent:
        return ev("view_item", {"user_id": user}, stamp(days_before), items=[item("sku_1", 20)],
                  properties={"utm_campaign": campaign, "utm_source": f"{campaign}-src", "utm_medium": "cpc"})

    def purchase(actor: dict[str, str], order: str, revenue: float) -> events_pb2.EcommerceEvent:
        return ev("purchase", actor, stamp(0), transaction_id=order, revenue=revenue)

    events = [
        touch("w1", "alpha", 2), purchase({"user_id": "w1"}, "p1", 100),
        touch("w2", "alpha", 14), touch("w2", "beta", 7), purchase({"user_id": "w2"}, "p2", 80),
        touch("w3", "alpha", 21), touch("w3", "beta", 14), touch("w3", "gamma", 7), touch("w3", "delta", 0),
        purchase({"user_id": "w3"}, "p3", 120),
        touch("w4", "alpha", 40), purchase({"user_id": "w4"}, "p4", 50),  # outside a 30-day window
        purchase({"user_id": "w5"}, "p5", 30),  # never touched
        # No user_id: the anonymous visitor's campaign cannot follow it to its purchase.
        ev("view_item", {"anonymous_id": "anon"}, stamp(1), items=[item("sku_1", 20)],
           properties={"utm_campaign": "alpha", "utm_source": "alpha-src", "utm_medium": "cpc"}),
        purchase({"anonymous_id": "anon"}, "p6", 20),
        # Flagged (above the 100,000 ceiling), with its own campaign: w6's only event in the range.
        ev("purchase", {"user_id": "w6"}, stamp(0), transaction_id="p7", revenue=150000,
           properties={"utm_campaign": "epsilon", "utm_source": "epsilon-src", "utm_medium": "cpc"}),
    ]
    response = ingest.Batch(ingest_pb2.BatchRequest(events=events), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (len(events), [])
    return shop


def test_revenue_by_channel_follows_users_last_touches(http, touched_shop) -> None:
    body = get(http, touched_shop, "revenue-by-channel", start=str(TODAY - timedelta(days=29)), end=str(TODAY))
    assert [(c["campaign"], c["source"], c["revenue"], c["orders"], c["conversion_rate"])
            for c in body["channels"]] == [
        ("delta", "delta-src", 120.0, 1, 100.0),  # p3's last touch, at the purchase's own time; w3 -> 1 / 1
        # p4 (its only touch 40 days old), p5 (never touched), p6 (anonymous): 50 + 30 + 20. Actors active in the
        # range without a touch in it: w4, w5, anon -> 3 / 3 (w6's only event, a touch, is flagged: w6 is
        # neither). Ties in revenue sort by campaign.
        ("(direct)", "(direct)", 100.0, 3, 100.0),
        ("alpha", "alpha-src", 100.0, 1, 33.3),  # p1; touched in the range: w1, w2, w3 (not anon) -> 1 / 3
        ("beta", "beta-src", 80.0, 1, 50.0),  # p2; w2, w3 -> 1 / 2
    ]
    # Flagged events included: p7 is epsilon's (its own campaign), and w6 both active and touched (by epsilon);
    # the actors without a touch stay w4, w5, anon.
    body = get(http, touched_shop, "revenue-by-channel", start=str(TODAY - timedelta(days=29)), end=str(TODAY),
               include_flagged="true")
    assert [(c["campaign"], c["revenue"], c["orders"], c["conversion_rate"]) for c in body["channels"]] == [
        ("epsilon", 150000.0, 1, 100.0), ("delta", 120.0, 1, 100.0), ("(direct)", 100.0, 3, 100.0),
        ("alpha", 100.0, 1, 33.3), ("beta", 80.0, 1, 50.0)]


def attributed(http, shop, **params) -> tuple[list[tuple[str, float, float, float]], dict[str, Any]]:
    body = get(http, shop, "attribution", start=str(TODAY - timedelta(days=29)), end=str(TODAY), **params)
    return [(a["campaign"], a["revenue"], a["orders"], a["pct_of_total"]) for a in body["attributed"]], body


def test_attribution_last_click(http, touched_shop) -> None:
    rows, body = attributed(http, touched_shop)
    # All purchases: 100 + 80 + 120 + 50 + 30 + 20 = 400. Last touches: p1 alpha, p2 beta, p3 delta.
    assert rows == [("delta", 120.0, 1.0, 30.0), ("alpha", 100.0, 1.0, 25.0), ("beta", 80.0, 1.0, 20.0)]
    assert body["unattributed"] == {"revenue": 100.0, "orders": 3}  # p4 (touch 40 days old), p5, p6
    assert (body["model"], body["window_days"]) == ("last_click", 30)
    assert sum(r[3] for r in rows) + 100.0 / 400 * 100 == 100.0
    assert body["attributed"][0]["source"] == "delta-src" and body["attributed"][0]["medium"] == "cpc"


def test_attribution_linear(http, touched_shop) -> None:
    rows, _ = attributed(http, touched_shop, model="linear")
    # p1: alpha 100; p2: 40 + 40; p3: 30 x 4.  alpha 100 + 40 + 30; beta 40 + 30.
    assert rows == [("alpha", 170.0, 1.75, 42.5), ("beta", 70.0, 0.75, 17.5), ("delta", 30.0, 0.25, 7.5),
                    ("gamma", 30.0, 0.25, 7.5)]


def test_attribution_time_decay(http, touched_shop) -> None:
    rows, _ = attributed(http, touched_shop, model="time_decay")
    # p2: ages 14 and 7 days -> 0.25 and 0.5 -> 1/3, 2/3 of 8000 cents: 2666 and 5333, the cent left to the last
    # touch (beta): 5334.  p3: 0.125, 0.25, 0.5, 1 (sum 1.875) of 120 -> 8, 16, 32, 64.  alpha 100 + 26.66 + 8;
    # beta 53.34 + 16; orders alpha 1 + 1/3 + 1/15 = 1.4.
    assert rows == [("alpha", 134.66, 1.4, 33.7), ("beta", 69.34, 0.8, 17.3), ("delta", 64.0, 0.53, 16.0),
                    ("gamma", 32.0, 0.27, 8.0)]


def test_attribution_position_based(http, touched_shop) -> None:
    rows, _ = attributed(http, touched_shop, model="position_based")
    # p1 all alpha; p2 50/50; p3 40 % first (alpha) and last (delta) = 48 each, 20 % over beta and gamma = 12 each.
    assert rows == [("alpha", 188.0, 1.9, 47.0), ("beta", 52.0, 0.6, 13.0), ("delta", 48.0, 0.4, 12.0),
                    ("gamma", 12.0, 0.1, 3.0)]


def test_attribution_window_and_bad_values(http, touched_shop) -> None:
    rows, body = attributed(http, touched_shop, window=60)
    assert rows[0] == ("alpha", 150.0, 2.0, 37.5)  # p4's 40-day-old touch now counts
    assert body["unattributed"] == {"revenue": 50.0, "orders": 2}
    headers = {"X-API-Key": touched_shop.secret_key}
    for params, message in [({"model": "first_click"},
                             "model must be one of last_click, linear, time_decay, position_based"),
                            ({"window": 10}, "window must be one of 7, 14, 30, 60, 90")]:
        response = http.get(f"{API}/attribution", params=params, headers=headers)
        assert (response.status_code, response.json()) == (400, {"error": message})


def test_direct_channel_counts_the_same_actors_by_hour_and_from_events(store, touched_shop) -> None:
    """The direct channel's denominator, actors active in the range, comes from actor_hours when the range is
    whole UTC hours and from events otherwise (Asia/Kolkata's days start at :30 UTC): the same actors."""
    midnight = datetime.combine(TODAY - timedelta(days=29), datetime.min.time(), UTC)
    whole = (midnight, midnight + timedelta(days=30))
    half = (midnight - timedelta(hours=5, minutes=30), midnight + timedelta(days=30, hours=-5, minutes=-30))
    for include_flagged, expected in [(False, 6), (True, 7)]:  # w1..w5 and anon; w6's only event is flagged
        for since, until in (whole, half):
            params = scope_params(store, touched_shop.appspace_id, since, until, include_flagged)
            assert channels.active_actors(store, params) == expected
        params = scope_params(store, touched_shop.appspace_id, *whole, include_flagged)
        assert store.scalar(channels.ACTIVE_ACTORS_BY_HOUR, params) == store.scalar(channels.ACTIVE_ACTORS,
                                                                                   params) == expected


def test_channels_from_stored_last_touches_equal_those_from_touches(store, shop, touched_shop) -> None:
    """Purchases of users the last-touch worker has not reached are attributed from their touches; once it has,
    from the stored last touches: the same rows, with and without flagged events, in both data sets."""
    midnight = datetime.combine(TODAY - timedelta(days=29), datetime.min.time(), UTC)
    store_round(store, margin=timedelta(0))
    for keys in (shop, touched_shop):
        users = store.query("SELECT DISTINCT user_id, cityHash64(user_id) AS user_key FROM purchase_channels "
                            "WHERE appspace_id = {a:String} AND user_id != ''", {"a": keys.appspace_id})
        for include_flagged in (False, True):
            params = scope_params(store, keys.appspace_id, midnight, midnight + timedelta(days=30), include_flagged)
            stored = store.query(channels.BY_CHANNEL, params)
            assert stored and sum(row["order_count"] for row in stored) >= 3
            assert store.query(channels.BY_CHANNEL_PENDING, {
                **params, "pending_round": [u["user_id"] for u in users],
                "pending_keys": [int(u["user_key"]) for u in users]}) == stored


def test_revenue_by_channel_in_a_half_hour_time_zone(http, touched_shop) -> None:
    """Asia/Kolkata (UTC+05:30): the range is read from events, not from whole hours; every event lies inside
    the range in both zones, so the rows are those in UTC."""
    days = {"start": str(TODAY - timedelta(days=29)), "end": str(TODAY)}
    in_utc = get(http, touched_shop, "revenue-by-channel", **days)["channels"]
    assert get(http, touched_shop, "revenue-by-channel", tz="Asia/Kolkata", **days)["channels"] == in_utc
    assert [c["conversion_rate"] for c in in_utc if c["campaign"] == "(direct)"] == [100.0]  # 3 / 3


def test_revenue_by_channel_lookback_edge_and_touches_at_the_same_moment(http, store, ingest, new_appspace) -> None:
    """A touch exactly 30 days before the purchase is in its lookback, one a second older is not; of two touches
    at the same millisecond the one the client sent later wins (METRICS.md), whatever their channels."""
    shop = new_appspace()
    bought = datetime.combine(TODAY - timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=9)

    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def touch(user: str, campaign: str, moment: datetime) -> events_pb2.EcommerceEvent:
        return ev("view_item", {"user_id": user}, stamp(moment), items=[item("sku_1", 20)],
                  properties={"utm_campaign": campaign, "utm_source": "src", "utm_medium": "cpc"})

    def purchase(user: str, order: str, revenue: float) -> events_pb2.EcommerceEvent:
        return ev("purchase", {"user_id": user}, stamp(bought), transaction_id=order, revenue=revenue)

    same_moment = bought - timedelta(hours=2, milliseconds=-7)
    events = [
        touch("e1", "zeta", bought - timedelta(days=30)), purchase("e1", "q1", 10),
        touch("e2", "eta", bought - timedelta(days=30, seconds=1)), purchase("e2", "q2", 20),
        touch("e3", "theta", same_moment), touch("e3", "iota", same_moment), purchase("e3", "q3", 40),
        touch("e4", "iota", same_moment), touch("e4", "theta", same_moment), purchase("e4", "q4", 80),
    ]
    response = ingest.Batch(ingest_pb2.BatchRequest(events=events), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (len(events), [])
    def rows() -> list[tuple[str, float, int, float]]:
        body = get(http, shop, "revenue-by-channel", start=str(TODAY - timedelta(days=29)), end=str(TODAY))
        return [(c["campaign"], c["revenue"], c["orders"], c["conversion_rate"]) for c in body["channels"]]

    # q4 (80) to theta and q3 (40) to iota, each sent after the other at the same millisecond (e3, e4 touched by
    # both in the range: 1 / 2 each); q2 direct (eta's touch 30 days and a second old); q1 zeta's (its touch
    # exactly 30 days old). Both touches lie before the range (its first day is 29 days before today, the
    # purchases a day before today at 09:00), so zeta touched nobody in it (1 / 0 -> 0.0) and e1, e2 are the
    # actors without a touch in it (direct: 1 / 2).
    expected = [("theta", 80.0, 1, 50.0), ("iota", 40.0, 1, 50.0), ("(direct)", 20.0, 1, 50.0), ("zeta", 10.0, 1, 0.0)]
    assert rows() == expected  # from the touches, or from the stored last touches if the worker got there first
    store_round(store, margin=timedelta(0))
    assert rows() == expected  # from the stored last touches


def test_revenue_by_channel_counts_a_touch_that_arrives_after_the_purchase(http, store, ingest, new_appspace) -> None:
    """Events may arrive late or out of order: a user's touch sent after its purchase, though older, becomes the
    purchase's channel from then on; a touch newer than the purchase never does."""
    shop = new_appspace()
    bought = datetime.combine(TODAY - timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=9)

    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def send(*events: events_pb2.EcommerceEvent) -> None:
        response = ingest.Batch(ingest_pb2.BatchRequest(events=list(events)), metadata=key(shop.secret_key))
        assert (response.accepted, list(response.errors)) == (len(events), [])

    def touch(user: str, campaign: str, moment: datetime) -> events_pb2.EcommerceEvent:
        return ev("view_item", {"user_id": user}, stamp(moment), items=[item("sku_1", 20)],
                  properties={"campaign": campaign, "source": "src", "medium": "cpc"})

    days = {"start": str(TODAY - timedelta(days=29)), "end": str(TODAY)}

    def rows() -> list[tuple[str, float, int, float]]:
        body = get(http, shop, "revenue-by-channel", **days)
        return [(c["campaign"], c["revenue"], c["orders"], c["conversion_rate"]) for c in body["channels"]]

    send(ev("purchase", {"user_id": "l1"}, stamp(bought), transaction_id="l1-o", revenue=30),
         ev("purchase", {"user_id": "l2"}, stamp(bought), transaction_id="l2-o", revenue=5))
    # No touches yet: both direct; l1 and l2 are the active actors without a touch (2 / 2).
    assert rows() == [("(direct)", 35.0, 2, 100.0)]
    send(touch("l1", "late", bought - timedelta(days=1)), touch("l2", "after", bought + timedelta(hours=1)))
    # l1's purchase now belongs to "late" (l1 touched by it in the range: 1 / 1); l2's stays direct ("after"
    # came an hour after it), and with both users touched in the range no actor is left without a touch (1 / 0).
    attributed = [("late", 30.0, 1, 100.0), ("(direct)", 5.0, 1, 0.0)]
    assert rows() == attributed  # from the touches: the background worker has not stored l1 and l2 yet
    store_round(store, margin=timedelta(0))
    assert rows() == attributed  # from the purchases' stored last touches
    # Another late touch of l1, older than its purchase but newer than "late": the purchase moves to it.
    send(touch("l1", "later", bought - timedelta(hours=1)))
    assert rows() == [("later", 30.0, 1, 100.0), ("(direct)", 5.0, 1, 0.0)]  # "late" touched l1 too: 1 / 1
    store_round(store, margin=timedelta(0))
    assert rows() == [("later", 30.0, 1, 100.0), ("(direct)", 5.0, 1, 0.0)]
