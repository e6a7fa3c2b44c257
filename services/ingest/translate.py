"""Protobuf to plain Python: the ecommerce event as the domain code sees it."""

from __future__ import annotations

from google.protobuf import struct_pb2

from carthouse.v1 import events_pb2
from services.ingest.model import IncomingEvent, IncomingItem


def _optional(message, name: str) -> float | None:
    return getattr(message, name) if message.HasField(name) else None


def _property_value(value: struct_pb2.Value) -> object:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    # null, lists and objects are passed on as such so that validation names the property.
    return None if kind == "null_value" else {"unsupported": kind}


def item_from_proto(item: events_pb2.Item) -> IncomingItem:
    return IncomingItem(
        item_id=item.item_id,
        item_name=item.item_name,
        item_category=item.item_category,
        item_brand=item.item_brand,
        item_variant=item.item_variant,
        item_list_name=item.item_list_name,
        item_list_id=item.item_list_id,
        item_image_url=item.item_image_url,
        price=_optional(item, "price"),
        quantity=_optional(item, "quantity"),
        currency=item.currency,
        coupon_code=item.coupon_code,
        discount=_optional(item, "discount"),
    )


def event_from_proto(event: events_pb2.EcommerceEvent) -> IncomingEvent:
    # ListFields gives only the fields that are set: cheaper than reading all six.
    context = {field.name: value for field, value in event.context.ListFields() if value}
    properties = event.properties.fields
    return IncomingEvent(
        event_type=event.event_type,
        transaction_id=event.transaction_id,
        revenue=_optional(event, "revenue"),
        currency=event.currency,
        user_id=event.user_id,
        cart_id=event.cart_id,
        coupon_code=event.coupon_code,
        discount=_optional(event, "discount"),
        shipping=_optional(event, "shipping"),
        tax=_optional(event, "tax"),
        items=[item_from_proto(item) for item in event.items],
        properties={key: _property_value(value) for key, value in properties.items()} if properties else {},
        timestamp=event.timestamp,
        event_id=event.event_id,
        anonymous_id=event.anonymous_id,
        context=context,
    )
