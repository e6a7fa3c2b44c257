"""The Python SDK (sdk/python) against the real stack: a refused event reaches on_error with the server's message;
10,000 events sent through a stack that is stopped (SIGTERM) and started again in the middle are stored exactly
once each."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import httpx
from carthouse_sdk import Client

from tests.conftest import ShopKeys
from tests.gateway_fixture import running_gateway, with_window_to_spare
from tests.support.stack_process import StackProcess, query_stopped


def test_a_refused_event_reaches_on_error_with_the_servers_message(http, new_appspace) -> None:
    shop: ShopKeys = new_appspace()
    refused: list[tuple[str, list[dict]]] = []
    client = Client(shop.secret_key, str(http.base_url), on_error=lambda message, events: refused.append(
        (message, events)))
    try:
        bad = client.track("purchase", revenue=5.0, user_id="s1")  # no transaction_id
        client.track("purchase", transaction_id="s1-o", revenue=5.0, user_id="s1")
        assert client.flush(timeout=30)
    finally:
        client.shutdown()
    assert [(message, [e["event_id"] for e in events]) for message, events in refused] == [
        ("transaction_id is required for purchase events", [bad])]
    assert (client.stats.sent, client.stats.failed) == (1, 1)
    overview = client_overview(http, shop)
    assert (overview["total_orders"], overview["total_revenue"]) == (1, 5.0)


def client_overview(http, shop: ShopKeys) -> dict:
    return http.get("/v1/api/analytics/ecommerce/overview", headers={"X-API-Key": shop.secret_key}).json()


def test_ten_thousand_events_across_a_restart_are_stored_exactly_once(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "data").start()
    try:
        keys = stack.create_appspace()
        client = Client(keys["secret_key"], stack.base_url, max_tries=12, backoff_base=0.5, backoff_max=5.0)
        sent: list[str] = []

        def produce() -> None:
            for n in range(10_000):
                sent.append(client.track("view_cart", user_id=f"sdk-{n % 500}"))
                if n % 100 == 99:
                    time.sleep(0.02)  # a shop's pace, so the restart falls in the middle

        producer = threading.Thread(target=produce)
        producer.start()
        while len(sent) < 3_000:
            time.sleep(0.05)
        assert stack.stop() == 0  # SIGTERM: in-flight requests finish, the rest is refused until it is back
        stack.start()
        producer.join()
        assert client.flush(timeout=180)
        client.shutdown()
        assert (client.stats.sent, client.stats.failed, client.stats.dropped) == (10_000, 0, 0)
    finally:
        stack.stop()
    rows = query_stopped(stack.data_dir, "SELECT count() AS n, uniqExact(client_event_id) AS ids FROM events "
                                         "WHERE appspace_id = {a:String}", {"a": keys["appspace_id"]})
    assert rows == [{"n": 10_000, "ids": 10_000}]


def test_a_rate_limited_client_slows_down_instead_of_losing_events(stack, redis_server, store, new_appspace) -> None:
    """Three requests a window of three seconds, the window already used up, six requests' worth of events: the
    client is refused (429 with Retry-After), waits for the next window and sends the rest; nothing is lost or
    stored twice."""
    shop: ShopKeys = new_appspace()
    own_counts = redis_server.url.removesuffix("/0") + "/7"  # the suite's other gateways count in db 0
    with running_gateway(stack.target, own_counts, rate_limit_per_min=3, rate_limit_window_seconds=3) as url:
        use_up_a_fresh_window(url, requests=3, window_seconds=3)
        client = Client(shop.secret_key, url, flush_at=10, flush_interval=0.1, max_tries=5, backoff_base=0.05)
        try:
            ids = [client.track("view_cart", user_id=f"limited-{n}") for n in range(60)]
            assert client.flush(timeout=60)
        finally:
            client.shutdown()
    assert client.stats.retries >= 1
    assert (client.stats.sent, client.stats.failed, client.stats.dropped) == (60, 0, 0)
    rows = store.query("SELECT client_event_id FROM events WHERE appspace_id = {a:String} ORDER BY client_event_id",
                       {"a": shop.appspace_id})
    assert [row["client_event_id"] for row in rows] == sorted(ids)


def use_up_a_fresh_window(url: str, requests: int, window_seconds: int) -> None:
    """Spends the limit at the start of a window, so the client's first request is refused whatever the clock
    says (six requests left to themselves may fall three and three either side of a window's edge)."""
    with_window_to_spare(window_seconds, needed_seconds=window_seconds)
    with httpx.Client(base_url=url) as http:
        for _ in range(requests):
            assert http.get("/v1/api/analytics/ecommerce/overview").status_code == 401


def test_every_analytics_method_answers_the_apis_figures_as_dataclasses(http, new_appspace) -> None:
    shop: ShopKeys = new_appspace()
    client = Client(shop.secret_key, str(http.base_url), sync_mode=True)
    client.track("add_to_cart", user_id="typed-1", cart_id="typed-c", items=[{"item_id": "sku_t", "price": 20}])
    client.track("purchase", user_id="typed-1", cart_id="typed-c", transaction_id="typed-o1", revenue=45.5,
                 coupon_code="SAVE5", discount=5, items=[{"item_id": "sku_t", "item_name": "Tee", "price": 20,
                                                          "quantity": 2}],
                 properties={"campaign": "spring", "source": "email", "medium": "news"})
    methods = {
        "overview": client.overview, "revenue-timeseries": client.revenue_timeseries, "funnel": client.funnel,
        "top-products": client.top_products, "revenue-by-channel": client.revenue_by_channel,
        "revenue-by-coupon": client.revenue_by_coupon, "revenue-by-device": client.revenue_by_device,
        "revenue-by-platform": client.revenue_by_platform, "revenue-by-country": client.revenue_by_country,
        "cart-abandonment": client.cart_abandonment, "attribution": client.attribution, "cohorts": client.cohorts,
        "user-journey?user_id=typed-1": lambda: client.user_journey("typed-1"),
    }
    for path, method in methods.items():
        expected = http.get(f"/v1/api/analytics/ecommerce/{path}", headers={"X-API-Key": shop.secret_key}).json()
        assert as_sent(dataclasses.asdict(method()), expected) == expected, path
    assert client.overview().total_revenue == 45.5
    assert [(c.coupon_code, c.revenue, c.avg_discount) for c in client.revenue_by_coupon().coupons] == [
        ("SAVE5", 45.5, 5.0)]
    journey = client.user_journey("typed-1")
    assert [(e.event_type, [(i.item_id, i.quantity) for i in e.items]) for e in journey.events] == [
        ("add_to_cart", [("sku_t", 1.0)]), ("purchase", [("sku_t", 2.0)])]
    client.shutdown()


def as_sent(value: object, like: object) -> object:
    """``value`` with only the fields ``like`` has, at every depth (the API leaves out empty fields that the
    dataclasses give defaults)."""
    if isinstance(like, dict) and isinstance(value, dict):
        return {name: as_sent(value.get(name), inner) for name, inner in like.items()}
    if isinstance(like, list) and isinstance(value, list):
        return [as_sent(v, inner) for v, inner in zip(value, like, strict=False)] + value[len(like):]
    return value
