"""Building the gRPC request message from path variables, query parameters and the JSON body,
with the rules of Envoy's grpc_json_transcoder (unknown query parameters and body fields are ignored)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from gateway.descriptors import Route
from gateway.json_to_proto import JsonBindingError, JsonToProto

_JSON = JsonToProto()


class BindingError(ValueError):
    """The request cannot become the message; the text is the client's 400 message."""


_INTEGER_TYPES = {
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}
_INT32_TYPES = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_FLOAT_TYPES = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


def _field(message: Message, name: str) -> FieldDescriptor | None:
    descriptor = message.DESCRIPTOR
    return descriptor.fields_by_name.get(name) or next(
        (f for f in descriptor.fields if f.json_name == name), None
    )


def _convert(field: FieldDescriptor, raw: str, parameter: str) -> Any:
    bad = BindingError(f"Invalid value for parameter {parameter}: {raw!r}")
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return raw
    if kind == FieldDescriptor.TYPE_BOOL:
        lowered = raw.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise bad
    if kind in _INTEGER_TYPES:
        try:
            value = int(raw)
        except ValueError:
            raise bad from None
        if kind in _INT32_TYPES and not -(2**31) <= value < 2**31:
            raise bad
        return value
    if kind in _FLOAT_TYPES:
        try:
            return float(raw)
        except ValueError:
            raise bad from None
    if kind == FieldDescriptor.TYPE_ENUM:
        value = field.enum_type.values_by_name.get(raw)
        if value is None:
            raise bad
        return value.number
    raise bad


def _set_path(message: Message, dotted: str, raw: str, parameter: str) -> None:
    """Set message.<a>.<b> = raw; unknown names are ignored, as Envoy's transcoder does."""
    names = dotted.split(".")
    target = message
    for name in names[:-1]:
        field = _field(target, name)
        if field is None or field.type != FieldDescriptor.TYPE_MESSAGE or _is_repeated(field):
            return
        target = getattr(target, field.name)
    field = _field(target, names[-1])
    if field is None or field.type == FieldDescriptor.TYPE_MESSAGE:
        return
    value = _convert(field, raw, parameter)
    if _is_repeated(field):
        getattr(target, field.name).append(value)
    else:
        setattr(target, field.name, value)


def _is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated


def build_request(
    route: Route,
    variables: dict[str, str],
    query: Iterable[tuple[str, str]],
    body: Any | None,
) -> Message:
    """The request message: body first (if the rule has one), then path variables, then query parameters."""
    if route.body:
        if not isinstance(body, dict):
            raise BindingError("Request body must be a JSON object")
        descriptor = route.request_class.DESCRIPTOR
        try:
            if route.body == "*":
                message = route.request_class(**_JSON.keywords(descriptor, body))
            else:
                nested = descriptor.fields_by_name[route.body].message_type
                message = route.request_class(**{route.body: _JSON.keywords(nested, body)})
        except (JsonBindingError, ValueError, TypeError) as exc:
            raise BindingError(f"Invalid JSON body: {exc}") from None
    else:
        message = route.request_class()
    for name, raw in variables.items():
        _set_path(message, name, unquote(raw), name)
    if route.body != "*":
        for name, raw in query:
            _set_path(message, name, raw, name)
    return message
