"""IngestService over gRPC against a real chdb store and a real redis-server."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from carthouse.store import Store
from carthouse.v1 import ingest_pb2_grpc
from services.ingest.quota import quota_key
from tests.builders import ADD_TO_CART, batch, event, key, track
from tests.conftest import AppspaceFactory, ShopKeys


@pytest.fixture(scope="module")
def shop(new_appspace: AppspaceFactory) -> ShopKeys:
    return new_appspace("growth")


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value


def error_code(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("x-error-code", "")


def count(store: Store, appspace_id: str, where: str = "1", **params: object) -> int:
    return store.scalar(
        f"SELECT count() FROM events WHERE appspace_id = {{a:String}} AND {where}", {"a": appspace_id, **params}
    )


# ---------------------------------------------------------------- the spec's examples, stored exactly


def test_spec_purchase_is_acknowledged_and_stored_to_the_cent(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    assert ingest.Track(track(), metadata=key(shop.publishable_key)).ok is True
    # Readable right after the acknowledgement: the write happened before the answer.
    row = store.query("SELECT * FROM events WHERE appspace_id = {a:String}", {"a": shop.appspace_id})[0]
    assert (row["event_type"], row["transaction_id"], row["user_id"]) == ("purchase", "order_456", "user_123")
    assert (row["revenue"], row["discount"], row["shipping"], row["tax"]) == (4999, 500, 499, 375)
    assert (row["currency"], row["revenue_original"], row["coupon_code"]) == ("USD", 49.99, "SAVE10")
    assert row["key_kind"] == "publishable"
    assert row["properties"] == {"campaign": "spring-sale", "source": "email"}
    items = store.query("SELECT * FROM event_items WHERE appspace_id = {a:String}", {"a": shop.appspace_id})
    assert [(i["item_id"], i["item_name"], i["item_category"], i["item_brand"], i["item_variant"], i["price"],
             i["quantity"], i["user_id"]) for i in items] == [
        ("sku_1", "T-Shirt", "Apparel", "MyBrand", "Red / L", 2499, 2, "user_123")]
    props = store.query("SELECT key, value, user_id FROM event_properties WHERE appspace_id = {a:String} ORDER BY key",
                        {"a": shop.appspace_id})
    assert props == [{"key": "campaign", "value": "spring-sale", "user_id": "user_123"},
                     {"key": "source", "value": "email", "user_id": "user_123"}]


def test_spec_batch_example_accepts_both(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    purchase = event(event_type="purchase", transaction_id="order_456", revenue=49.99, currency="USD",
                     user_id="user_123", items=[{"item_id": "sku_1", "price": 24.99, "quantity": 2}],
                     coupon_code=None, discount=None, shipping=None, tax=None, properties=None)
    response = ingest.Batch(batch(event(ADD_TO_CART), purchase), metadata=key(shop.publishable_key))
    assert (response.ok, response.accepted, list(response.errors)) == (True, 2, [])
    assert count(store, shop.appspace_id) == 2
    assert store.scalar("SELECT sum(quantity) FROM event_items WHERE appspace_id = {a:String}",
                        {"a": shop.appspace_id}) == 3


def test_batch_skips_invalid_events_and_reports_them(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    response = ingest.Batch(batch(event(transaction_id=None), event(ADD_TO_CART)), metadata=key(shop.secret_key))
    assert (response.ok, response.accepted) == (True, 1)
    assert list(response.errors) == ["events[0]: transaction_id is required for purchase events"]
    assert count(store, shop.appspace_id) == 1
    assert count(store, shop.appspace_id, "event_type = 'purchase'") == 0


def test_single_event_batch_still_numbers_its_error(ingest, shop) -> None:
    response = ingest.Batch(batch(event(event_type="bogus")), metadata=key(shop.secret_key))
    assert (response.accepted, list(response.errors)) == (0, ["events[0]: Invalid ecommerce event_type"])


# ---------------------------------------------------------------- validation messages of the spec


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_type": None}, "event_type is required"),
        ({"event_type": "checkout"}, "Invalid ecommerce event_type"),
        ({"transaction_id": None}, "transaction_id is required for purchase events"),
        ({"revenue": None}, "revenue is required for purchase events"),
        ({"event_type": "refund", "transaction_id": None}, "transaction_id is required for refund events"),
        ({"event_type": "spend_credits", "revenue": None}, "revenue is required for spend_credits events"),
        ({"event_type": "view_item", "items": []}, "items is required for view_item events"),
        ({"revenue": -5}, "revenue must be a finite number >= 0"),
        ({"currency": "XYZ"}, "Invalid currency: XYZ"),
    ],
)
def test_invalid_track_is_rejected_with_the_message(ingest, store, shop, changes, message) -> None:
    before = count(store, shop.appspace_id)
    error = rpc_error(ingest.Track, track(**changes), metadata=key(shop.publishable_key))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    assert count(store, shop.appspace_id) == before


def test_missing_currency_means_the_base_currency(ingest, store, new_appspace) -> None:
    shop = new_appspace(base_currency="JPY")
    ingest.Track(track(currency=None, revenue=5000, discount=None, shipping=None, tax=None,
                       items=[{"item_id": "sku_1", "price": 2500, "quantity": 2}]),
                 metadata=key(shop.publishable_key))
    row = store.query("SELECT revenue, currency FROM events WHERE appspace_id = {a:String}", {"a": shop.appspace_id})
    assert row == [{"revenue": 5000, "currency": "JPY"}]


def test_empty_batch_is_rejected(ingest, shop) -> None:
    error = rpc_error(ingest.Batch, batch(), metadata=key(shop.secret_key))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                "events array is required and must not be empty")


def test_batch_of_101_is_rejected_and_100_accepted(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    error = rpc_error(ingest.Batch, batch(*[event(ADD_TO_CART)] * 101), metadata=key(shop.secret_key))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "Maximum 100 events per batch")
    assert count(store, shop.appspace_id) == 0
    assert ingest.Batch(batch(*[event(ADD_TO_CART)] * 100), metadata=key(shop.secret_key)).accepted == 100
    assert count(store, shop.appspace_id) == 100


# ---------------------------------------------------------------- authentication


def test_missing_key_is_unauthenticated(ingest) -> None:
    error = rpc_error(ingest.Track, track())
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "API key required")


def test_unknown_key_is_unauthenticated(ingest, shop) -> None:
    forged = shop.secret_key[:-4] + "AAAA"
    for bad in ("nonsense", forged):
        error = rpc_error(ingest.Track, track(), metadata=key(bad))
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "Invalid API key")


def test_key_in_bearer_header_and_in_body(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    ingest.Track(track(transaction_id="o-bearer"), metadata=[("authorization", f"Bearer {shop.secret_key}")])
    ingest.Track(track(transaction_id="o-body", apiKey=shop.publishable_key))
    ingest.Batch(batch(event(transaction_id="o-batch"), api_key=shop.publishable_key))
    assert count(store, shop.appspace_id) == 3


def test_revoked_key_stops_working_within_five_seconds(ingest, channel, new_appspace) -> None:
    from carthouse.v1 import admin_pb2

    shop = new_appspace()
    assert ingest.Track(track(transaction_id="before"), metadata=key(shop.secret_key)).ok
    key_id = shop.secret_key.split("_")[2]
    new_appspace.stub.RevokeKey(admin_pb2.RevokeKeyRequest(key_id=key_id), metadata=new_appspace.metadata)
    deadline = time.monotonic() + 5
    while True:
        try:
            ingest.Track(track(transaction_id=f"after-{uuid.uuid4()}"), metadata=key(shop.secret_key))
        except grpc.RpcError as error:
            assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "API key has been revoked")
            break
        assert time.monotonic() < deadline, "revoked key still accepted after 5 s"
        time.sleep(0.2)
    assert ingest.Track(track(transaction_id="other-key"), metadata=key(shop.publishable_key)).ok


def test_backfill_beyond_72_hours_needs_a_secret_key(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    five_days_ago = (datetime.now(UTC) - timedelta(days=5)).replace(microsecond=0)
    stamp = five_days_ago.isoformat().replace("+00:00", "Z")
    error = rpc_error(ingest.Track, track(timestamp=stamp), metadata=key(shop.publishable_key))
    assert error.details() == "timestamp older than 72 hours requires a secret key"
    assert ingest.Track(track(timestamp=stamp), metadata=key(shop.secret_key)).ok
    row = store.query("SELECT event_time, key_kind FROM events WHERE appspace_id = {a:String}", {"a": shop.appspace_id})
    assert row == [{"event_time": five_days_ago.strftime("%Y-%m-%d %H:%M:%S.000"), "key_kind": "secret"}]


# ---------------------------------------------------------------- plans and quotas


def test_free_tier_is_feature_gated(ingest, store, new_appspace) -> None:
    free = new_appspace("free")
    for call, request in ((ingest.Track, track()), (ingest.Batch, batch(event(ADD_TO_CART)))):
        error = rpc_error(call, request, metadata=key(free.publishable_key))
        assert (error.code(), error.details()) == (
            grpc.StatusCode.PERMISSION_DENIED, "Ecommerce events are not available on the free tier")
        assert error_code(error) == "FEATURE_GATED"
    assert count(store, free.appspace_id) == 0


def test_monthly_quota_is_enforced_without_partial_writes(ingest, store, redis_server, new_appspace) -> None:
    import redis

    shop = new_appspace("standard")  # 100,000 ecommerce events a month
    redis.Redis.from_url(redis_server.url).set(quota_key(shop.appspace_id, datetime.now(UTC)), 99_998)
    assert ingest.Batch(batch(event(ADD_TO_CART)), metadata=key(shop.secret_key)).accepted == 1
    error = rpc_error(ingest.Batch, batch(event(ADD_TO_CART), event(ADD_TO_CART)), metadata=key(shop.secret_key))
    assert (error.code(), error.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "Ecommerce event quota exceeded")
    assert error_code(error) == "USAGE_EXCEEDED"
    assert ingest.Track(track(), metadata=key(shop.secret_key)).ok  # the last event of the month still fits
    error = rpc_error(ingest.Track, track(transaction_id="one-too-many"), metadata=key(shop.secret_key))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert count(store, shop.appspace_id) == 2


# ---------------------------------------------------------------- deduplication


def test_purchase_sent_twice_is_stored_once(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    assert ingest.Track(track(), metadata=key(shop.publishable_key)).ok
    assert ingest.Track(track(), metadata=key(shop.publishable_key)).ok
    assert ingest.Batch(batch(event(), event()), metadata=key(shop.secret_key)).accepted == 2
    assert count(store, shop.appspace_id) == 1
    # A refund of the same order is a different event.
    assert ingest.Track(track(event_type="refund"), metadata=key(shop.secret_key)).ok
    assert count(store, shop.appspace_id) == 2


def test_event_id_deduplicates_any_event(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    event_id = str(uuid.uuid4())
    cart = event(ADD_TO_CART, event_id=event_id)
    assert ingest.Batch(batch(cart, cart), metadata=key(shop.secret_key)).accepted == 2
    assert ingest.Batch(batch(cart), metadata=key(shop.secret_key)).accepted == 1
    assert ingest.Batch(batch(event(ADD_TO_CART)), metadata=key(shop.secret_key)).accepted == 1
    assert count(store, shop.appspace_id) == 2
    stored = store.scalar(
        "SELECT toString(event_id) FROM events WHERE appspace_id = {a:String} AND client_event_id != ''",
        {"a": shop.appspace_id},
    )
    assert stored == event_id


# ---------------------------------------------------------------- tenants


def test_tenants_are_separate(ingest, store, new_appspace) -> None:
    first, second = new_appspace(), new_appspace()
    ingest.Track(track(), metadata=key(first.publishable_key))
    # The same order id in another appspace is not a duplicate.
    ingest.Batch(batch(event(), event(ADD_TO_CART)), metadata=key(second.publishable_key))
    assert count(store, first.appspace_id) == 1
    assert count(store, second.appspace_id) == 2
    for table in ("events", "event_items", "event_properties"):
        owners = {row["appspace_id"] for row in store.query(
            f"SELECT DISTINCT appspace_id FROM {table} WHERE user_id = 'user_123'"
            " AND appspace_id IN ({a:String}, {b:String})", {"a": first.appspace_id, "b": second.appspace_id})}
        assert owners == {first.appspace_id, second.appspace_id}
    item_owner = store.scalar(
        "SELECT groupUniqArray(appspace_id) FROM event_items WHERE event_id IN "
        "(SELECT event_id FROM events WHERE appspace_id = {a:String})", {"a": first.appspace_id})
    assert item_owner == [first.appspace_id]


def test_concurrent_batches_are_all_stored(ingest: ingest_pb2_grpc.IngestServiceStub, store, new_appspace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    shop = new_appspace()
    request = batch(*[event(ADD_TO_CART)] * 50)
    with ThreadPoolExecutor(8) as pool:
        accepted = list(pool.map(lambda _: ingest.Batch(request, metadata=key(shop.secret_key)).accepted, range(40)))
    assert sum(accepted) == 2000
    assert count(store, shop.appspace_id) == 2000


def test_events_are_enriched_and_sender_context_wins(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    iphone = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.0 Mobile/15E148 Safari/604.1")
    derived = event(ADD_TO_CART, context={"ip": "81.2.69.160", "user_agent": iphone})
    overridden = event(ADD_TO_CART, user_id="server", context={"ip": "81.2.69.160", "user_agent": iphone,
                                                               "country": "FR", "device_type": "desktop",
                                                               "platform": "web"})
    assert ingest.Batch(batch(derived, overridden), metadata=key(shop.secret_key)).accepted == 2
    rows = store.query("SELECT user_id, country, device_type, platform FROM events WHERE appspace_id = {a:String}"
                       " ORDER BY user_id", {"a": shop.appspace_id})
    assert rows == [
        {"user_id": "server", "country": "FR", "device_type": "desktop", "platform": "web"},
        {"user_id": "user_123", "country": "GB", "device_type": "mobile", "platform": "ios"},
    ]


def test_x_forwarded_for_is_believed_only_from_trusted_peers(ingest, store, redis_server, session_dir,
                                                             new_appspace) -> None:
    import grpc as grpc_module

    from app.stack import running_stack
    from carthouse.config import Settings
    from carthouse.v1 import ingest_pb2_grpc

    shop = new_appspace()
    spoofed = [*key(shop.secret_key), ("x-forwarded-for", "6.6.6.6")]
    # The test stack trusts loopback (where the gateway calls from): the forwarded client counts.
    ingest.Track(track(transaction_id="via-gateway", context=None), metadata=spoofed)
    settings = Settings(data_dir=session_dir / "untrusted", database=store.database, admin_token="t",
                        grpc_trusted_peers="")
    with running_stack(settings, redis_server.url, store=store, port=0, services=["ingest"]) as stack, \
            grpc_module.insecure_channel(stack.target) as channel:
        ingest_pb2_grpc.IngestServiceStub(channel).Track(track(transaction_id="direct", context=None),
                                                         metadata=spoofed)
    rows = store.query("SELECT transaction_id, ip FROM events WHERE appspace_id = {a:String} ORDER BY transaction_id",
                       {"a": shop.appspace_id})
    assert rows == [{"transaction_id": "direct", "ip": "127.0.0.1"}, {"transaction_id": "via-gateway", "ip": "6.6.6.6"}]
