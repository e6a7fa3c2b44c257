"""Responses as Envoy's transcoder prints them (preserve_proto_field_names, always_print_primitive_fields),
and gRPC errors as {"error": message, "code": ...} with the HTTP status Envoy maps each gRPC code to."""

from __future__ import annotations

import math
from typing import Any

import grpc
import orjson
from google.protobuf import json_format
from google.protobuf.message import Message

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def _envoy_numbers(value: Any) -> Any:
    """Doubles print as Envoy prints them: 12450, not 12450.0 (integral doubles lose the fraction)."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _envoy_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_envoy_numbers(v) for v in value]
    return value


def _in_field_order(message: Message, data: dict[str, Any]) -> dict[str, Any]:
    """Fields in declaration order, as Envoy prints them (json_format puts set fields first)."""
    ordered: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        nested = field.message_type
        if nested is not None and not nested.GetOptions().map_entry and not nested.full_name.startswith("google."):
            if field.is_repeated:
                value = [_in_field_order(m, v) for m, v in zip(getattr(message, field.name), value, strict=True)]
            else:
                value = _in_field_order(getattr(message, field.name), value)
        ordered[field.name] = value
    return ordered


def message_json(message: Message) -> bytes:
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return orjson.dumps(_envoy_numbers(_in_field_order(message, data)))


def error_json(message: str, code: str = "") -> bytes:
    body: dict[str, str] = {"error": message}
    if code:
        body["code"] = code
    return orjson.dumps(body)
