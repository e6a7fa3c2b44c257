"""The rules of docs/METRICS.md that a careful analyst checks by hand: each test builds the smallest data set that
shows one rule, and every expected number is a literal with its arithmetic beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis

from carthouse.v1 import events_pb2, ingest_pb2
from tests.builders import ev, item, key
from tests.conftest import ShopKeys

API = "/v1/api/analytics/ecommerce"
TODAY = datetime.now(UTC).date()
NOON_YESTERDAY = datetime.combine(TODAY - timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=12)
LAST_30_DAYS = {"start": str(TODAY - timedelta(days=29)), "end": str(TODAY)}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def days_before(days: float) -> str:
    return stamp(NOON_YESTERDAY - timedelta(days=days))


def send(ingest, shop: ShopKeys, *events: events_pb2.EcommerceEvent) -> None:
    response = ingest.Batch(ingest_pb2.BatchRequest(events=list(events)), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (len(events), [])


def get(http: httpx.Client, shop: ShopKeys, endpoint: str, **params: Any) -> dict[str, Any]:
    response = http.get(f"{API}/{endpoint}", params={**LAST_30_DAYS, **params},
                        headers={"X-API-Key": shop.secret_key})
    assert response.status_code == 200, response.text
    return response.json()


def click(user: str, campaign: str, days: float) -> events_pb2.EcommerceEvent:
    return ev("view_item", {"user_id": user}, days_before(days), items=[item("sku_1", 20)],
              properties={"utm_campaign": campaign, "utm_source": "src", "utm_medium": "cpc"})


def purchase(user: str, order: str, revenue: float, days: float = 0, **fields: Any) -> events_pb2.EcommerceEvent:
    return ev("purchase", {"user_id": user}, days_before(days), transaction_id=order, revenue=revenue, **fields)


def attribution(http, shop, model: str, **params: Any) -> tuple[list[tuple[str, float, float]], dict[str, Any]]:
    body = get(http, shop, "attribution", model=model, **params)
    return [(row["campaign"], row["revenue"], row["orders"]) for row in body["attributed"]], body["unattributed"]


def test_attribution_splits_over_distinct_campaigns_in_whole_cents(http, ingest, new_appspace) -> None:
    """r1 clicks A, A, A, B and buys for 100.00; r2 clicks A, B and buys for 10.01. Every model's credits are
    whole cents that add up to each order."""
    shop = new_appspace()
    send(ingest, shop,
         click("r1", "A", 4), click("r1", "A", 3), click("r1", "A", 2), click("r1", "B", 1),
         purchase("r1", "o1", 100.00),
         click("r2", "A", 2), click("r2", "B", 1), purchase("r2", "o2", 10.01))

    # linear: two campaigns each, whatever the clicks: o1 50.00 / 50.00; o2 1001 cents = 500 + 500 and one cent
    # left, which goes to the last touch: B 5.01, A 5.00.
    rows, unattributed = attribution(http, shop, "linear")
    assert rows == [("B", 55.01, 1.0), ("A", 55.0, 1.0)]  # 50.00 + 5.01; 50.00 + 5.00
    assert unattributed == {"revenue": 0.0, "orders": 0}
    # last_click: B's both.
    rows, _ = attribution(http, shop, "last_click")
    assert rows == [("B", 110.01, 2.0)]
    # position_based: o1's four clicks weigh 40 : 10 : 10 : 40 -> A 60.00, B 40.00; o2 50/50 -> B 5.01, A 5.00.
    rows, _ = attribution(http, shop, "position_based")
    assert rows == [("A", 65.0, 1.1), ("B", 45.01, 0.9)]  # 60.00 + 5.00; 40.00 + 5.01; orders 0.6 + 0.5, 0.4 + 0.5
    # time_decay: o1's clicks 4, 3, 2, 1 days old weigh 2^(-4/7) : 2^(-3/7) : 2^(-2/7) : 2^(-1/7) = 0.67295 :
    # 0.74300 : 0.82034 : 0.90572 (sum 3.14201) of 10000 cents: 2141.8 -> 2141, 2364.7 -> 2364, 2610.9 -> 2610 (A)
    # and 2882.6 -> 2882 + the 3 cents the floors leave, to the last touch (B): 2885. o2: 2^(-2/7) : 2^(-1/7) =
    # 0.47526 : 0.52474 of 1001: 475.7 -> 475 (A), 525.3 -> 525 + 1 = 526 (B). A 71.15 + 4.75 = 75.90,
    # B 28.85 + 5.26 = 34.11; orders A 0.21418 + 0.23648 + 0.26109 + 0.47526 = 1.19.
    rows, _ = attribution(http, shop, "time_decay")
    assert rows == [("A", 75.9, 1.19), ("B", 34.11, 0.81)]
    for model in ("last_click", "linear", "time_decay", "position_based"):
        rows, unattributed = attribution(http, shop, model)
        assert round(sum(revenue for _, revenue, _ in rows) + unattributed["revenue"], 2) == 110.01, model


def test_attribution_window_includes_a_touch_exactly_window_days_old(http, ingest, new_appspace) -> None:
    """The same edge as revenue-by-channel's 30-day lookback: a touch exactly 30 days before the purchase counts,
    one a second older does not."""
    shop = new_appspace()
    send(ingest, shop,
         click("e1", "edge", 30), purchase("e1", "q1", 20),
         ev("view_item", {"user_id": "e2"}, stamp(NOON_YESTERDAY - timedelta(days=30, seconds=1)),
            items=[item("sku_1", 20)], properties={"utm_campaign": "late", "utm_source": "src", "utm_medium": "cpc"}),
         purchase("e2", "q2", 40))
    rows, unattributed = attribution(http, shop, "last_click")
    assert rows == [("edge", 20.0, 1.0)]
    assert unattributed == {"revenue": 40.0, "orders": 1}
    channels = get(http, shop, "revenue-by-channel")["channels"]
    assert [(c["campaign"], c["revenue"]) for c in channels] == [("(direct)", 40.0), ("edge", 20.0)]


def test_add_to_cart_rate_leaves_out_events_without_an_actor(http, ingest, new_appspace) -> None:
    shop = new_appspace()
    send(ingest, shop,
         ev("view_item", {"user_id": "v1"}, days_before(1), items=[item("sku_1", 20)]),
         ev("view_item", {"user_id": "v2"}, days_before(1), items=[item("sku_1", 20)]),
         ev("add_to_cart", {"user_id": "v1"}, days_before(1), items=[item("sku_1", 20)]),
         ev("add_to_cart", {}, days_before(1), items=[item("sku_1", 20)]),  # nobody: no user, device or cart
         ev("view_item", {}, days_before(1), items=[item("sku_1", 20)]))
    assert get(http, shop, "overview")["add_to_cart_rate"] == 50.0  # v1 / (v1, v2)


def test_top_products_keeps_the_latest_name_that_is_not_empty(http, ingest, new_appspace) -> None:
    shop = new_appspace()
    send(ingest, shop,
         purchase("n1", "t1", 20, days=2, items=[{"item_id": "sku_9", "item_name": "Old name", "price": 20}]),
         purchase("n1", "t2", 20, days=1, items=[{"item_id": "sku_9", "item_name": "New name", "price": 20}]),
         purchase("n1", "t3", 20, days=0, items=[{"item_id": "sku_9", "price": 20}]))
    assert get(http, shop, "top-products")["products"] == [
        {"item_id": "sku_9", "item_name": "New name", "revenue": 60.0, "quantity": 3, "orders": 3}]


def test_a_transaction_stored_twice_is_two_orders_in_every_figure(http, ingest, new_appspace, redis_server) -> None:
    """Re-sent after ingest's 24-hour dedup window (here: its Redis key removed), an order is stored again; every
    figure then counts two orders and twice the revenue, top-products' orders included (METRICS.md, "Orders")."""
    shop = new_appspace()
    order = purchase("d1", "twice", 30, items=[item("sku_2", 30)])
    send(ingest, shop, order)
    client = redis.Redis.from_url(redis_server.url)
    assert client.delete(f"dedup:{shop.appspace_id}:purchase:twice") == 1
    send(ingest, shop, order)
    overview = get(http, shop, "overview")
    assert (overview["total_revenue"], overview["total_orders"]) == (60.0, 2)
    assert get(http, shop, "top-products")["products"] == [
        {"item_id": "sku_2", "item_name": "Hoodie", "revenue": 60.0, "quantity": 2, "orders": 2}]
    assert [(d["revenue"], d["orders"]) for d in get(http, shop, "revenue-by-device")["devices"]] == [(60.0, 2)]


def test_refund_of_a_flagged_order_is_left_out_with_it(http, ingest, new_appspace) -> None:
    """A 150,000.00 order (above the 100,000 ceiling: flagged) refunded in full, beside a clean 50.00 order
    refunded 20.00."""
    shop = new_appspace()
    send(ingest, shop,
         purchase("f1", "big", 150000, days=3), ev("refund", {"user_id": "f1"}, days_before(2), transaction_id="big",
                                                  revenue=150000),
         purchase("f2", "small", 50, days=3), ev("refund", {"user_id": "f2"}, days_before(2), transaction_id="small",
                                                revenue=20))
    overview = get(http, shop, "overview")
    assert (overview["total_revenue"], overview["refund_amount"], overview["net_revenue"],
            overview["total_refunds"]) == (50.0, 20.0, 30.0, 1)
    flagged = get(http, shop, "overview", include_flagged="true")
    assert (flagged["total_revenue"], flagged["refund_amount"], flagged["net_revenue"],
            flagged["total_refunds"]) == (150050.0, 150020.0, 30.0, 2)
    cohorts = get(http, shop, "cohorts", months=2)
    assert (cohorts["total_purchasing_users"], cohorts["avg_ltv"]) == (1, 30.0)  # f2: 50 - 20


def test_an_item_line_beyond_int64_is_a_400_naming_the_field(http, new_appspace) -> None:
    """An item line (price x quantity) or an event's lines together may reach 10^16 minor units; beyond, sums of
    them would wrap Int64 (9.2 x 10^18) in cart values and product revenue. 9,999,999,999,999.00 x 1,000,000 is
    ~10^21 cents; 9,000,000,000,000.00 x 10 is 9 x 10^15 cents, twice that 1.8 x 10^16."""
    shop = new_appspace()
    line = {"item_id": "sku_1", "price": 9_999_999_999_999, "quantity": 1_000_000}
    two_lines = [{**line, "price": 9_000_000_000_000, "quantity": 10}] * 2
    for items, message in [([line], "items[0].price x quantity is too large"),
                           (two_lines, "items: the sum of price x quantity is too large")]:
        response = http.post(f"{API}/track", headers={"X-API-Key": shop.secret_key},
                             json={"event_type": "add_to_cart", "user_id": "big", "items": items})
        assert (response.status_code, response.json()) == (400, {"error": message})
    ok = http.post(f"{API}/track", headers={"X-API-Key": shop.secret_key},
                   json={"event_type": "add_to_cart", "user_id": "big", "items": [{**line, "quantity": 1}]})
    assert (ok.status_code, ok.json()) == (200, {"ok": True})


def test_sums_beyond_int64_do_not_wrap(store) -> None:
    """1,000 stored purchases of 10^16 cents each (the largest amount ingest stores) total 10^19 cents, past
    Int64's 9.2 x 10^18: every sum is exact."""
    from services.analytics.queries import revenue
    from services.analytics.queries.scope import scope_params

    store.execute("""
INSERT INTO events_ingest (appspace_id, event_time, event_id, event_type, user_id, transaction_id, revenue, currency,
                           `items.item_id`, `items.price`, `items.quantity`, `items.item_name`, `items.item_category`,
                           `items.item_brand`, `items.item_variant`, `items.item_list_name`, `items.item_list_id`,
                           `items.item_image_url`, `items.price_original`, `items.currency`, `items.coupon_code`,
                           `items.discount`)
SELECT 'as_wrap', now64(3) - INTERVAL 1 HOUR, generateUUIDv4(number), 'purchase', concat('w', toString(number)),
       concat('t', toString(number)), 10000000000000000, 'USD', ['sku_1'], [10000000000000000], [1], [''], [''], [''],
       [''], [''], [''], [''], [NULL], ['USD'], [''], [0]
FROM numbers(1000)
""", {})
    now = datetime.now(UTC)
    params = scope_params(store, "as_wrap", now - timedelta(days=1), now + timedelta(minutes=1), False)
    assert revenue.totals(store, params, now)["purchase_revenue"] == 10**19  # 1,000 x 10^16
    assert revenue.top_products(store, params, 1)[0]["revenue_minor"] == 10**19
    assert revenue.by_column(store, params, "device_type")[0]["revenue_minor"] == 10**19


def untimed(event_type: str, actor: dict[str, str], **fields: Any) -> events_pb2.EcommerceEvent:
    """An event sent without a timestamp: it gets the request's time, as every event of its request does."""
    return ev(event_type, actor, "", **fields)


def test_events_of_one_request_keep_the_order_they_were_sent_in(http, ingest, new_appspace) -> None:
    shop = new_appspace()
    u = {"user_id": "j1"}
    shirt, hoodie = [item("sku_1", 20)], [item("sku_2", 30)]
    sent = [untimed("view_item", u, items=shirt), untimed("add_to_wishlist", u, items=shirt), untimed("search", u),
            untimed("share", u), untimed("rate", u), untimed("add_to_cart", u, items=shirt),
            untimed("remove_from_cart", u, items=shirt), untimed("add_to_cart", u, items=hoodie),
            untimed("view_cart", u), untimed("begin_checkout", u), untimed("add_payment_info", u),
            untimed("purchase", u, transaction_id="j1-o", revenue=30)]
    send(ingest, shop, *sent)
    journey = get(http, shop, "user-journey", user_id="j1")["events"]
    assert [e["event_type"] for e in journey] == [e.event_type for e in sent]
    assert len({e["timestamp"] for e in journey}) == 1  # one request, one time


def test_a_touch_sent_after_the_purchase_in_the_same_request_does_not_count_for_it(http, ingest, new_appspace) -> None:
    """t1's batch is [purchase 25.00, touch "after"]; t2's [touch "before", purchase 15.00]; no timestamps."""
    shop = new_appspace()

    def touch(user: str, campaign: str) -> events_pb2.EcommerceEvent:
        return untimed("view_item", {"user_id": user}, items=[item("sku_1", 20)],
                       properties={"utm_campaign": campaign, "utm_source": "src", "utm_medium": "cpc"})

    send(ingest, shop, untimed("purchase", {"user_id": "t1"}, transaction_id="t1-o", revenue=25),
         touch("t1", "after"))
    send(ingest, shop, touch("t2", "before"),
         untimed("purchase", {"user_id": "t2"}, transaction_id="t2-o", revenue=15))
    for model in ("last_click", "linear", "time_decay", "position_based"):
        rows, unattributed = attribution(http, shop, model)
        assert (rows, unattributed) == ([("before", 15.0, 1.0)], {"revenue": 25.0, "orders": 1}), model
    channels = get(http, shop, "revenue-by-channel")["channels"]
    # t1's purchase is direct; t1 and t2 were both touched in the range, so no actor is left without a touch (0).
    assert [(c["campaign"], c["revenue"], c["conversion_rate"]) for c in channels] == [
        ("(direct)", 25.0, 0.0), ("before", 15.0, 100.0)]


def test_touches_of_one_moment_from_two_requests_rank_alike_in_attribution_and_channels(
        http, ingest, store, new_appspace) -> None:
    """u1 is touched by campaigns X and Y at the same millisecond, each the first event of its own request, then
    buys for 30.00 a day later. Past time and index, touches rank by their channel's key in attribution as in
    revenue-by-channel's last touch; the event ids are chosen so that ranking by them would name the other one."""
    shop = new_appspace()
    keys = store.query("SELECT cityHash64('X', 'src', 'cpc') AS x, cityHash64('Y', 'src', 'cpc') AS y")[0]
    last, first = ("X", "Y") if int(keys["x"]) > int(keys["y"]) else ("Y", "X")
    ids = {first: "ffffffff-0000-4000-8000-000000000000", last: "00000000-0000-4000-8000-000000000000"}
    for campaign in ("X", "Y"):
        send(ingest, shop, ev("view_item", {"user_id": "u1"}, days_before(2), items=[item("sku_1", 20)],
                              event_id=ids[campaign],
                              properties={"utm_campaign": campaign, "utm_source": "src", "utm_medium": "cpc"}))
    send(ingest, shop, purchase("u1", "u1-o", 30.01, days=1))
    assert attribution(http, shop, "last_click")[0] == [(last, 30.01, 1.0)]
    # position_based: two touches split 50/50, 1500 cents each, and the cent the floors leave to the last.
    assert attribution(http, shop, "position_based")[0] == [(last, 15.01, 0.5), (first, 15.0, 0.5)]
    channels = get(http, shop, "revenue-by-channel")["channels"]
    assert [(c["campaign"], c["revenue"]) for c in channels if c["revenue"]] == [(last, 30.01)]


def test_funnel_steps_sent_together_count_in_the_order_sent(http, ingest, new_appspace) -> None:
    """g1 sends [add_to_cart, view_item] in one batch, g2 [view_item, add_to_cart]; no timestamps."""
    shop = new_appspace()
    send(ingest, shop, untimed("add_to_cart", {"user_id": "g1"}, items=[item("sku_1", 20)]),
         untimed("view_item", {"user_id": "g1"}, items=[item("sku_1", 20)]))
    send(ingest, shop, untimed("view_item", {"user_id": "g2"}, items=[item("sku_1", 20)]),
         untimed("add_to_cart", {"user_id": "g2"}, items=[item("sku_1", 20)]))
    assert [s["count"] for s in get(http, shop, "funnel")["steps"]] == [2, 1, 0, 0, 0, 0]  # g2 only adds after


def test_carts_judge_events_of_equal_time_in_the_order_sent(http, ingest, new_appspace) -> None:
    """Two hours ago, at one moment: k1's batch is [purchase, add_to_cart] (the cart was filled after the order:
    abandoned), k2's [add_to_cart, purchase] (completed)."""
    shop = new_appspace()
    moment = stamp(datetime.now(UTC) - timedelta(hours=2))
    send(ingest, shop, ev("purchase", {"user_id": "c1"}, moment, cart_id="k1", transaction_id="k1-o", revenue=5),
         ev("add_to_cart", {"user_id": "c1"}, moment, cart_id="k1", items=[item("sku_3", 15)]))
    send(ingest, shop, ev("add_to_cart", {"user_id": "c2"}, moment, cart_id="k2", items=[item("sku_1", 20)]),
         ev("purchase", {"user_id": "c2"}, moment, cart_id="k2", transaction_id="k2-o", revenue=20))
    assert get(http, shop, "cart-abandonment") == {
        "abandonment_rate": 50.0, "abandoned_carts": 1, "abandoned_revenue": 15.0, "completed_carts": 1, "days": 30}
    assert get(http, shop, "overview")["cart_abandonment_rate"] == 50.0  # its statement leaves the value out


def test_a_cart_filled_by_two_actors_is_judged_by_its_last_actor_on_every_call(http, ingest, new_appspace) -> None:
    """Cart k9 is filled anonymously (a9), then by the logged-in u9, who buys without naming the cart: u9's cart,
    completed, on every call."""
    shop = new_appspace()
    send(ingest, shop,
         ev("add_to_cart", {"anonymous_id": "a9"}, days_before(1), cart_id="k9", items=[item("sku_1", 20)]),
         ev("add_to_cart", {"user_id": "u9"}, days_before(0.99), cart_id="k9", items=[item("sku_2", 30)]),
         ev("purchase", {"user_id": "u9"}, days_before(0.98), transaction_id="k9-o", revenue=50))
    for _ in range(5):
        judged = get(http, shop, "cart-abandonment")
        assert (judged["completed_carts"], judged["abandoned_carts"]) == (1, 0)


def test_user_journey_reaches_an_active_users_newest_events(http, ingest, new_appspace) -> None:
    """n1 has 150 views over the last days, then buys: the default page (100, oldest first) ends before the
    purchase; order=newest starts with it."""
    shop = new_appspace()
    views = [ev("view_item", {"user_id": "n1"}, days_before(3 - n / 100), items=[item("sku_1", 20)])
             for n in range(150)]
    for start in (0, 100):
        send(ingest, shop, *views[start:start + 100])
    send(ingest, shop, purchase("n1", "n1-o", 99.5))
    oldest = get(http, shop, "user-journey", user_id="n1")["events"]
    assert len(oldest) == 100 and {e["event_type"] for e in oldest} == {"view_item"}
    newest = get(http, shop, "user-journey", user_id="n1", order="newest", limit=3)["events"]
    assert [(e["event_type"], e.get("revenue")) for e in newest] == [
        ("purchase", 99.5), ("view_item", None), ("view_item", None)]
    assert newest[1]["timestamp"] > newest[2]["timestamp"]  # newest first
    bad = http.get(f"{API}/user-journey", params={"user_id": "n1", "order": "latest"},
                   headers={"X-API-Key": shop.secret_key})
    assert (bad.status_code, bad.json()) == (400, {"error": "order must be oldest or newest"})


def test_units_sold_past_two_to_the_31_are_exact(http, store, new_appspace) -> None:
    """3,000 stored purchases of one item with quantity 1,000,000 (the most ingest takes) are 3 x 10^9 units, more
    than a 32-bit count holds."""
    shop = new_appspace()
    store.execute(f"""
INSERT INTO events_ingest (appspace_id, event_time, event_id, event_type, user_id, transaction_id, revenue, currency,
                           `items.item_id`, `items.price`, `items.quantity`, `items.item_name`, `items.item_category`,
                           `items.item_brand`, `items.item_variant`, `items.item_list_name`, `items.item_list_id`,
                           `items.item_image_url`, `items.price_original`, `items.currency`, `items.coupon_code`,
                           `items.discount`)
SELECT '{shop.appspace_id}', now64(3) - INTERVAL 1 HOUR, generateUUIDv4(number), 'purchase', 'bulk',
       concat('t', toString(number)), 100, 'USD', ['sku_1'], [1], [1000000], ['Pin'], [''], [''], [''], [''], [''],
       [''], [NULL], ['USD'], [''], [0]
FROM numbers(3000)
""", {})
    assert get(http, shop, "overview")["total_items_sold"] == 3_000_000_000
    assert get(http, shop, "top-products")["products"][0]["quantity"] == 3_000_000_000
