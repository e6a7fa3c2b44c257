"""GDPR deletion end to end: DELETE answers at once, queries hide the user immediately, the background worker
removes every row with ClickHouse mutations (checked with direct SQL counts, not through the API), nothing
else is touched, repeating is harmless, and a request left half-done by a crash is completed."""

from __future__ import annotations

import time
from datetime import timedelta

import grpc
import pytest
from google.protobuf import json_format

from carthouse.clock import utc_now
from carthouse.store import Store
from carthouse.v1 import analytics_pb2, analytics_pb2_grpc, events_pb2, ingest_pb2
from services.analytics import deletions, funnel_reach
from tests.builders import key
from tests.conftest import ShopKeys

TABLES = ("events", "event_items", "event_properties", "fraud_events", "touches", "cart_activity", "actor_hours",
          "funnel_steps", "funnel_reach", "funnel_dirty", "purchase_channels", "attribution_dirty", "cart_states",
          "cart_dirty")
BOT = "python-requests/2.31.0"


def ev(event_type: str, user: str, **fields) -> events_pb2.EcommerceEvent:
    return json_format.ParseDict({"event_type": event_type, "user_id": user, **fields}, events_pb2.EcommerceEvent())


def activity(user: str) -> list[events_pb2.EcommerceEvent]:
    return [
        ev("view_item", user, items=[{"item_id": "sku_1", "price": 10}], properties={"campaign": "spring"}),
        ev("purchase", user, transaction_id=f"{user}-o1", revenue=10, items=[{"item_id": "sku_1", "price": 10}]),
        # Blocked (a server passing a bot's user agent on): lands in the fraud audit only.
        ev("purchase", user, transaction_id=f"{user}-bot", revenue=5, context={"user_agent": BOT}),
    ]


def counts(store: Store, appspace_id: str, user: str) -> dict[str, int]:
    return {table: int(store.scalar(f"SELECT {deletions.ROWS.get(table, 'count()')} FROM {table} "
                                    "WHERE appspace_id = {a:String} "
                                    "AND user_id = {u:String}", {"a": appspace_id, "u": user})) for table in TABLES}


@pytest.fixture(scope="module")
def analytics(channel) -> analytics_pb2_grpc.AnalyticsServiceStub:
    return analytics_pb2_grpc.AnalyticsServiceStub(channel)


@pytest.fixture(scope="module")
def shops(ingest, new_appspace, store) -> tuple[ShopKeys, ShopKeys]:
    shop, other = new_appspace(), new_appspace()
    for keys in (shop, other):
        events = activity("d1") + activity("d2")
        assert ingest.Batch(ingest_pb2.BatchRequest(events=events), metadata=key(keys.secret_key)).accepted == 6
    funnel_reach.store_round(store, margin=timedelta(0))  # as the worker's next round does
    return shop, other


def wait_done(analytics, shop: ShopKeys, user: str) -> analytics_pb2.DeletionRequest:
    deadline = time.monotonic() + 60
    while True:
        found = [d for d in analytics.ListDeletions(analytics_pb2.ListDeletionsRequest(),
                                                    metadata=key(shop.secret_key)).deletions if d.user_id == user]
        if found and found[0].status == "done":
            return found[0]
        assert time.monotonic() < deadline, f"deletion of {user} not done within 60 s: {found}"
        time.sleep(0.2)


def test_deletion_removes_every_row_of_the_user_and_nothing_else(store, analytics, shops) -> None:
    shop, other = shops
    before = counts(store, shop.appspace_id, "d1")
    assert before == {"events": 2, "event_items": 2, "event_properties": 1, "fraud_events": 1, "touches": 1,
                      "cart_activity": 1, "actor_hours": 1,  # the stored purchase; one hour of activity
                      "funnel_steps": 2,  # the view and the stored purchase
                      "funnel_reach": 1, "funnel_dirty": 1,  # the actor's reach; marked once per INSERT
                      "purchase_channels": 1,  # the stored purchase
                      "attribution_dirty": 1,  # its user marked for the last-touch worker, once per INSERT
                      "cart_states": 0, "cart_dirty": 1}  # no cart; its purchase marked for the cart-state worker
    response = analytics.DeleteUser(analytics_pb2.DeleteUserRequest(user_id="d1"), metadata=key(shop.secret_key))
    assert (response.ok, response.deleted_user_id) == (True, "d1")
    # Hidden from queries at once, whether or not the rows are gone yet.
    journey = analytics.UserJourney(analytics_pb2.UserJourneyRequest(user_id="d1"), metadata=key(shop.secret_key))
    assert list(journey.events) == []
    done = wait_done(analytics, shop, "d1")
    assert done.rows_removed == 16 and done.completed_at.endswith("Z")
    assert counts(store, shop.appspace_id, "d1") == dict.fromkeys(TABLES, 0)
    assert counts(store, shop.appspace_id, "d2") == before
    assert counts(store, other.appspace_id, "d1") == before
    overview = analytics.Overview(analytics_pb2.OverviewRequest(), metadata=key(shop.secret_key))
    assert (overview.total_revenue, overview.total_orders) == (10.0, 1)  # d2's order only


def test_deleting_again_is_harmless(store, analytics, shops) -> None:
    shop, _ = shops
    for _ in range(2):
        assert analytics.DeleteUser(analytics_pb2.DeleteUserRequest(user_id="d1"), metadata=key(shop.secret_key)).ok
    wait_done(analytics, shop, "d1")
    assert counts(store, shop.appspace_id, "d1") == dict.fromkeys(TABLES, 0)
    listed = analytics.ListDeletions(analytics_pb2.ListDeletionsRequest(), metadata=key(shop.secret_key))
    assert [d.user_id for d in listed.deletions].count("d1") == 1


def test_a_request_left_half_done_by_a_crash_is_completed(store, analytics, shops) -> None:
    shop, _ = shops
    # As if the process died after the first mutation: d2's events are gone, the rest is not, and the
    # request is still pending in the table (nothing about it lived only in memory).
    deletions.record(store, shop.appspace_id, "d2", utc_now())
    store.execute("ALTER TABLE events DELETE WHERE appspace_id = {a:String} AND user_id = 'd2' "
                  "SETTINGS mutations_sync = 2", {"a": shop.appspace_id})
    wait_done(analytics, shop, "d2")  # the running worker (any worker, after a restart) finishes it
    assert counts(store, shop.appspace_id, "d2") == dict.fromkeys(TABLES, 0)


def test_delete_needs_a_secret_key(analytics, shops) -> None:
    shop, _ = shops
    with pytest.raises(grpc.RpcError) as caught:
        analytics.DeleteUser(analytics_pb2.DeleteUserRequest(user_id="d2"), metadata=key(shop.publishable_key))
    assert caught.value.details() == "Secret key required"
