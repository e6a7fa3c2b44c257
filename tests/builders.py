"""Builders: one valid object each; a test changes the one thing it is about."""

from __future__ import annotations

import copy
from typing import Any

from google.protobuf import json_format

from carthouse.v1 import events_pb2, ingest_pb2

# The spec's example body for POST /ecommerce/track.
SPEC_PURCHASE: dict[str, Any] = {
    "event_type": "purchase",
    "transaction_id": "order_456",
    "revenue": 49.99,
    "currency": "USD",
    "user_id": "user_123",
    "coupon_code": "SAVE10",
    "discount": 5.00,
    "shipping": 4.99,
    "tax": 3.75,
    "items": [
        {
            "item_id": "sku_1",
            "item_name": "T-Shirt",
            "item_category": "Apparel",
            "item_brand": "MyBrand",
            "item_variant": "Red / L",
            "price": 24.99,
            "quantity": 2,
            "currency": "USD",
        }
    ],
    "properties": {"campaign": "spring-sale", "source": "email"},
}

ADD_TO_CART: dict[str, Any] = {
    "event_type": "add_to_cart",
    "items": [{"item_id": "sku_1", "item_name": "T-Shirt", "price": 24.99}],
    "user_id": "user_123",
}


# A desktop browser's user agent: REST tests send it with publishable keys, which the bot rule would block as
# HTTP libraries otherwise.
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def body(base: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A JSON event body (default: the spec's purchase) with fields changed or removed (pass None to remove)."""
    changed = copy.deepcopy(base if base is not None else SPEC_PURCHASE)
    for name, value in changes.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed


def event(base: dict[str, Any] | None = None, **changes: Any) -> events_pb2.EcommerceEvent:
    """body() as an EcommerceEvent."""
    return json_format.ParseDict(body(base, **changes), events_pb2.EcommerceEvent())


def track(base: dict[str, Any] | None = None, **changes: Any) -> ingest_pb2.TrackRequest:
    return ingest_pb2.TrackRequest(event=event(base, **changes))


def batch(*events: events_pb2.EcommerceEvent, api_key: str = "") -> ingest_pb2.BatchRequest:
    return ingest_pb2.BatchRequest(events=list(events), api_key=api_key)


def key(api_key: str) -> list[tuple[str, str]]:
    return [("x-api-key", api_key)]


ITEM_NAMES = {"sku_1": "T-Shirt", "sku_2": "Hoodie", "sku_3": "Socks"}


def item(sku: str, price: float, quantity: int = 1) -> dict[str, Any]:
    """An item of the analytics data sets (sku_1 T-Shirt, sku_2 Hoodie, sku_3 Socks)."""
    return {"item_id": sku, "item_name": ITEM_NAMES[sku], "price": price, "quantity": quantity}


def ev(event_type: str, actor: dict[str, str], when: str, context: dict[str, str] | None = None,
       **fields: Any) -> events_pb2.EcommerceEvent:
    """An event in USD at ``when`` (ISO 8601) by ``actor`` ({"user_id": …} or similar), with server context."""
    body = {"event_type": event_type, "timestamp": when, "currency": "USD", **actor, **fields}
    if context:
        body["context"] = context
    return json_format.ParseDict(body, events_pb2.EcommerceEvent())
