"""IngestService servicer: protobuf in, plain Python to the pipeline, protobuf out."""

from __future__ import annotations

import grpc
from google.protobuf import struct_pb2

from carthouse.auth import Authenticator
from carthouse.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc
from services.ingest.model import IncomingEvent, IncomingItem, RequestContext
from services.ingest.pipeline import IngestPipeline

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


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


def request_context(context: grpc.aio.ServicerContext) -> RequestContext:
    """The client address: the first X-Forwarded-For entry (set by the gateway), else the gRPC peer."""
    metadata = {name: value for name, value in context.invocation_metadata() if isinstance(value, str)}
    forwarded = metadata.get("x-forwarded-for", "").split(",")[0].strip()
    peer = context.peer() or ""
    peer_ip = peer.split(":", 1)[1].rsplit(":", 1)[0].strip("[]") if peer.startswith(("ipv4:", "ipv6:")) else ""
    return RequestContext(ip=forwarded or peer_ip, user_agent=metadata.get("user-agent", ""))


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, authenticator: Authenticator, pipeline: IngestPipeline) -> None:
        self._auth = authenticator
        self._pipeline = pipeline

    async def Track(
        self, request: ingest_pb2.TrackRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.TrackResponse:
        principal = self._auth.authenticate(context.invocation_metadata(), request.event.api_key)
        await self._pipeline.track(principal, event_from_proto(request.event), request_context(context))
        return ingest_pb2.TrackResponse(ok=True)

    async def Batch(
        self, request: ingest_pb2.BatchRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BatchResponse:
        principal = self._auth.authenticate(context.invocation_metadata(), request.api_key)
        events = [event_from_proto(event) for event in request.events]
        result = await self._pipeline.batch(principal, events, request_context(context))
        return ingest_pb2.BatchResponse(ok=True, accepted=result.accepted, errors=result.errors)
