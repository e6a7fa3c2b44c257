"""ImportService.Import (what `carthouse import` sends): a request of thousands of events prepared in slices by
every worker yet answered and stored as one request: errors numbered in the whole request, duplicates within it
stored once, one time received, equal times ordered across the slices' edges; its limits and its key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from carthouse.store import Store
from carthouse.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.bulk import MAX_IMPORT, SLICE
from tests.builders import ADD_TO_CART, event, key

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)


@pytest.fixture(scope="module")
def imports(channel: grpc.Channel) -> ingest_pb2_grpc.ImportServiceStub:
    return ingest_pb2_grpc.ImportServiceStub(channel)


def at(second: int) -> str:
    return (START + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def import_request(events: list) -> ingest_pb2.ImportRequest:
    return ingest_pb2.ImportRequest(events=events)


def test_a_request_of_several_slices_is_answered_and_stored_as_one(imports, store: Store, new_appspace) -> None:
    shop = new_appspace("enterprise")
    size = 2 * SLICE + 500
    events = [event(ADD_TO_CART, user_id=f"u{n}", timestamp=at(n)) for n in range(size)]
    events[7] = event(transaction_id=None, timestamp=at(7))  # a purchase without its order id
    events[SLICE] = event(ADD_TO_CART, event_type="bogus", timestamp=at(SLICE))  # the second slice's first
    events[size - 1] = event(ADD_TO_CART, currency="XXX", timestamp=at(size - 1))
    events[100] = event(transaction_id="imp-1", revenue=12.34, items=[], timestamp=at(100))
    events[SLICE + 500] = event(transaction_id="imp-1", revenue=12.34, items=[], timestamp=at(SLICE + 500))
    # Four events of one time across the first slice's edge keep the order sent.
    for n in range(SLICE - 2, SLICE + 3):
        if n != SLICE:
            events[n] = event(ADD_TO_CART, user_id=f"tie{n}", timestamp=at(0))
    answer = imports.Import(import_request(events), metadata=key(shop.secret_key))
    assert answer.accepted == size - 3
    assert list(answer.errors) == [
        "events[7]: transaction_id is required for purchase events",
        f"events[{SLICE}]: Invalid ecommerce event_type",
        f"events[{size - 1}]: Unsupported currency: XXX",
    ]
    (row,) = store.query(
        "SELECT count() AS n, countIf(event_type = 'purchase') AS orders, sum(revenue) AS revenue, "
        "uniqExact(received_at) AS received FROM events WHERE appspace_id = {a:String}", {"a": shop.appspace_id})
    # The order sent twice in one request is stored once; every row has the request's one time received.
    assert (row["n"], row["orders"], row["revenue"], row["received"]) == (size - 4, 1, 1234, 1)
    ties = store.query("SELECT user_id, seq FROM events WHERE appspace_id = {a:String} AND user_id LIKE 'tie%' "
                       "ORDER BY seq", {"a": shop.appspace_id})
    # at(0) is also the first event's time (u0): the ties come after it.
    assert [(r["user_id"], r["seq"]) for r in ties] == [
        (f"tie{SLICE - 2}", 1), (f"tie{SLICE - 1}", 2), (f"tie{SLICE + 1}", 3), (f"tie{SLICE + 2}", 4)]


def test_an_import_needs_a_secret_key_and_between_one_and_the_maximum_events(imports, store: Store,
                                                                               new_appspace) -> None:
    shop = new_appspace("enterprise")
    refusals = [
        (key(shop.publishable_key), [event(ADD_TO_CART)], grpc.StatusCode.PERMISSION_DENIED, "Secret key required"),
        (key(shop.secret_key), [], grpc.StatusCode.INVALID_ARGUMENT, "events array is required and must not be empty"),
        (key(shop.secret_key), [event(ADD_TO_CART)] * (MAX_IMPORT + 1), grpc.StatusCode.INVALID_ARGUMENT,
         f"Maximum {MAX_IMPORT} events per import request"),
    ]
    for metadata, events, code, message in refusals:
        with pytest.raises(grpc.RpcError) as caught:
            imports.Import(import_request(events), metadata=metadata)
        assert (caught.value.code(), caught.value.details()) == (code, message)
    assert store.scalar("SELECT count() FROM events WHERE appspace_id = {a:String}", {"a": shop.appspace_id}) == 0
    assert imports.Import(import_request([event(ADD_TO_CART)] * MAX_IMPORT), metadata=key(shop.secret_key)).accepted \
        == MAX_IMPORT
    assert store.scalar("SELECT count() FROM events WHERE appspace_id = {a:String}",
                        {"a": shop.appspace_id}) == MAX_IMPORT
