"""Hostile payloads through the REST gateway (real gRPC stack, chdb, redis-server): each gets its documented
4xx, or is stored exactly as sent; nothing is executed, nothing half-written, never a 5xx."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from carthouse.store import Store
from carthouse.v1 import admin_pb2
from tests.builders import BROWSER
from tests.conftest import AppspaceFactory, ShopKeys
from tests.gateway_fixture import running_gateway

TRACK = "/v1/api/analytics/ecommerce/track"
BATCH = "/v1/api/analytics/ecommerce/batch"
TOO_LARGE = "Request body too large (limit 1 MiB)"
MALFORMED = "Malformed JSON body"

# Strings that would do harm if anything pasted them into SQL, a ClickHouse format or a log format.
HOSTILE = [
    "'); DROP TABLE events; --",
    "\\'; SELECT * FROM system.tables FORMAT JSON --",
    "{appspace:String}",
    "{{a:String}}",
    "%s %d %(x)s {0}",
    "\\N",
    "a\tb\nc\r\n",
    "zero\u0000byte",
    "ünïcødé ✓ 🛒",
    "' OR 1=1 --",
]


@pytest.fixture(scope="module")
def http(stack, redis_server) -> Iterator[httpx.Client]:
    with (
        running_gateway(stack.target, redis_server.url, rate_limit_per_min=1_000_000) as url,
        httpx.Client(base_url=url, timeout=60, headers={"User-Agent": BROWSER}) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def shop(new_appspace: AppspaceFactory) -> ShopKeys:
    return new_appspace("growth")


def post(http: httpx.Client, shop: ShopKeys, path: str, content: bytes,
         content_type: str = "application/json") -> httpx.Response:
    return http.post(path, content=content, headers={"X-API-Key": shop.secret_key, "Content-Type": content_type})


def view_cart(**fields: object) -> bytes:
    return orjson.dumps({"event_type": "view_cart", "user_id": "u1", **fields})


def purchase(**fields: object) -> dict[str, object]:
    return {"event_type": "purchase", "transaction_id": "o1", "revenue": 10.0, "currency": "USD", **fields}


DEEP = b'{"event_type":"view_cart","properties":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"
HUNDRED_K_ITEMS = orjson.dumps({"event_type": "add_to_cart", "items": [{}] * 100_000})
HUNDRED_K_EVENTS = orjson.dumps({"events": [{}] * 100_000})

CASES = [
    # (id, path, body, content type, status, error message or None for "any message")
    ("10 MB body", TRACK, b'{"user_id":"' + b"x" * 10_000_000 + b'"}', "application/json", 413, TOO_LARGE),
    ("100k items", TRACK, HUNDRED_K_ITEMS, "application/json", 400, "items[0].item_id is required"),
    ("100k events", BATCH, HUNDRED_K_EVENTS, "application/json", 400, "Maximum 100 events per batch"),
    ("5000-deep properties", TRACK, DEEP, "application/json", 400, MALFORMED),
    ("nested property object", TRACK, view_cart(properties={"a": {"b": {"c": 1}}}), "application/json", 400,
     "properties.a must be a string, number or boolean"),
    ("invalid UTF-8", TRACK, b'{"event_type":"view_cart","user_id":"\xff\xfe\xfd"}', "application/json", 400,
     MALFORMED),
    ("64 KiB user_id", TRACK, view_cart(user_id="x" * 65536), "application/json", 400,
     "user_id must be at most 4096 characters"),
    ("bare NaN", TRACK, b'{"event_type":"purchase","transaction_id":"o","revenue":NaN}', "application/json",
     400, MALFORMED),
    ("NaN as string", TRACK, orjson.dumps(purchase(revenue="NaN")), "application/json", 400,
     "revenue must be a finite number >= 0"),
    ("Infinity as string", TRACK, orjson.dumps(purchase(revenue="Infinity")), "application/json", 400,
     "revenue must be a finite number >= 0"),
    ("1e309", TRACK, b'{"event_type":"purchase","transaction_id":"o","revenue":1e309}', "application/json",
     400, None),
    ("negative revenue", TRACK, orjson.dumps(purchase(revenue=-1)), "application/json", 400,
     "revenue must be a finite number >= 0"),
    ("negative quantity", TRACK, orjson.dumps(purchase(items=[{"item_id": "a", "quantity": -2}])),
     "application/json", 400, "items[0].quantity must be a whole number from 1 to 1000000"),
    ("fractional quantity", TRACK, orjson.dumps(purchase(items=[{"item_id": "a", "quantity": 1.5}])),
     "application/json", 400, None),
    ("14-digit revenue", TRACK, orjson.dumps(purchase(revenue=10_000_000_000_000)), "application/json", 400,
     "revenue is too large"),
    ("revenue as object", TRACK, orjson.dumps(purchase(revenue={"$gt": 0})), "application/json", 400, None),
    ("SQL in currency", TRACK, orjson.dumps(purchase(currency="USD'; DROP TABLE events; --")), "application/json",
     400, "Invalid currency: USD'; DROP TABLE events; --"),
    ("duplicate keys: the last wins", TRACK, b'{"event_type":"view_cart","event_type":"purchase"}',
     "application/json", 400, "transaction_id is required for purchase events"),
    ("XML body", TRACK, b"<event><type>purchase</type></event>", "application/xml", 400, MALFORMED),
    ("form body", TRACK, b"event_type=view_cart&user_id=u1", "application/x-www-form-urlencoded", 400,
     MALFORMED),
    ("multipart body", TRACK, b"--b\r\nContent-Disposition: form-data; name=\"event_type\"\r\n\r\nview_cart\r\n--b--",
     "multipart/form-data; boundary=b", 400, MALFORMED),
    ("JSON array", TRACK, b"[]", "application/json", 400, "Request body must be a JSON object"),
    ("JSON string", TRACK, b'"purchase"', "application/json", 400, "Request body must be a JSON object"),
]


@pytest.mark.parametrize(("path", "body", "content_type", "status", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_hostile_payload_gets_its_documented_4xx(http, shop, store: Store, path, body, content_type, status,
                                                 message) -> None:
    before = _count(store, shop)
    response = post(http, shop, path, body, content_type)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error == message if message is not None else error
    assert _count(store, shop) == before  # nothing written


def _count(store: Store, shop: ShopKeys) -> int:
    return store.scalar("SELECT count() FROM events WHERE appspace_id = {a:String}", {"a": shop.appspace_id})


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_are_stored_verbatim_in_every_field(http, shop, store: Store, text: str) -> None:
    marker = f"t{HOSTILE.index(text)}"
    body = {
        "event_type": "purchase", "transaction_id": marker + text, "revenue": 1.0, "currency": "USD",
        "user_id": text, "anonymous_id": text, "cart_id": text, "coupon_code": text,
        "items": [{"item_id": text, "item_name": text, "item_category": text, "item_brand": text,
                   "item_variant": text, "price": 1.0}],
        "properties": {text: text, "campaign": text},
        "context": {"user_agent": text, "locale": text, "device_type": text, "platform": text, "country": text},
    }
    response = post(http, shop, TRACK, orjson.dumps(body))
    assert (response.status_code, response.json()) == (200, {"ok": True})
    where = {"a": shop.appspace_id, "t": marker + text}
    assert store.query("SELECT user_id, anonymous_id, cart_id, coupon_code, properties, user_agent, locale,"
                       " device_type, platform, country FROM events"
                       " WHERE appspace_id = {a:String} AND transaction_id = {t:String}", where) == [
        {"user_id": text, "anonymous_id": text, "cart_id": text, "coupon_code": text,
         "properties": {text: text, "campaign": text}, "user_agent": text, "locale": text, "device_type": text,
         "platform": text, "country": text}]
    # Its item row, written by the same INSERT.
    assert store.query("SELECT item_id, item_name, item_category, item_brand, item_variant FROM event_items"
                       " WHERE appspace_id = {a:String} AND transaction_id = {t:String}", where) == [
        {"item_id": text, "item_name": text, "item_category": text, "item_brand": text, "item_variant": text}]
    journey = http.get("/v1/api/analytics/ecommerce/user-journey", params={"user_id": text},
                       headers={"X-API-Key": shop.secret_key})
    assert journey.status_code == 200
    assert [e["transaction_id"] for e in journey.json()["events"]] == [marker + text]


def test_64_kib_free_text_is_stored_whole(http, shop, store: Store) -> None:
    long = "é" * 65536
    response = post(http, shop, TRACK, view_cart(user_id="long-text", properties={"note": long},
                                                 items=[{"item_id": "a", "item_name": long}]))
    assert response.status_code == 200
    assert store.query("SELECT properties['note'] AS note FROM events"
                       " WHERE appspace_id = {a:String} AND user_id = 'long-text'", {"a": shop.appspace_id}) == [
        {"note": long}]
    assert store.query("SELECT item_name FROM event_items WHERE appspace_id = {a:String} AND user_id = 'long-text'",
                       {"a": shop.appspace_id}) == [{"item_name": long}]


def test_thirteen_digit_revenue_is_stored_to_the_cent(http, store: Store, new_appspace) -> None:
    # The default revenue ceiling would block it as absurd; raised, the amount is only flagged, so stored.
    big_spender = new_appspace("growth")
    new_appspace.stub.UpdateAppspace(
        admin_pb2.UpdateAppspaceRequest(appspace_id=big_spender.appspace_id,
                                        fraud_settings={"revenue_ceiling": "1000000000000"}),
        metadata=new_appspace.metadata)
    stored: list[dict] = []
    deadline = time.monotonic() + 15  # settings reach ingest within seconds (cached per appspace)
    while not stored and time.monotonic() < deadline:
        order = f"big-{time.monotonic_ns()}"
        body = orjson.dumps(purchase(transaction_id=order, revenue=9_999_999_999_999.99))
        assert post(http, big_spender, TRACK, body).status_code == 200
        stored = store.query("SELECT revenue, toString(revenue_original) AS sent, fraud_reasons FROM events"
                             " WHERE appspace_id = {a:String} AND transaction_id = {t:String}",
                             {"a": big_spender.appspace_id, "t": order})
        time.sleep(0.5)
    assert stored == [{"revenue": 999_999_999_999_999, "sent": "9999999999999.99",
                       "fraud_reasons": ["revenue_above_ceiling"]}]


def test_a_foreign_amount_too_large_for_the_base_currency_is_refused(http, new_appspace, store: Store) -> None:
    # EUR 9,999,999,999,999 is about 1.9e19 IDR cents: past Int64. One such row would fail a whole group insert.
    rupiah = new_appspace("growth", base_currency="IDR")
    response = post(http, rupiah, TRACK, orjson.dumps(purchase(currency="EUR", revenue=9_999_999_999_999)))
    assert (response.status_code, response.json()) == (400, {"error": "revenue is too large"})
    assert _count(store, rupiah) == 0


def test_sql_in_query_parameters_is_only_a_value(http, shop) -> None:
    for text in HOSTILE:
        response = http.get("/v1/api/analytics/ecommerce/user-journey", params={"user_id": text + " nobody"},
                            headers={"X-API-Key": shop.secret_key})
        assert (response.status_code, response.json()["events"]) == (200, [])
        response = http.get("/v1/api/analytics/ecommerce/overview", params={"tz": text},
                            headers={"X-API-Key": shop.secret_key})
        assert response.status_code == 400
        assert response.json()["error"].startswith("tz must be an IANA time zone name")
