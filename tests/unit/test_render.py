"""gateway/render.py: the one-pass response printer gives byte for byte what json_format (with the field order and
Envoy's number rule) gives, for every message type of the API, on random messages."""

from __future__ import annotations

import math

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import render
from gateway.descriptors import ApiDescriptors
from gateway.render import generic_message_json, message_json

API = ApiDescriptors()


def _all_messages() -> list[Descriptor]:
    found: dict[str, Descriptor] = {}

    def visit(descriptor: Descriptor) -> None:
        if descriptor.full_name in found or descriptor.GetOptions().map_entry:
            return
        found[descriptor.full_name] = descriptor
        for nested in descriptor.nested_types:
            visit(nested)

    for file in API.files.file:
        for message in file.message_type:
            visit(API.pool.FindMessageTypeByName(f"{file.package}.{message.name}"))
    return sorted(found.values(), key=lambda d: d.full_name)


MESSAGES = _all_messages()
RESPONSES = sorted({route.response_class.DESCRIPTOR.full_name for route in API.routes})

_INTS = {
    FieldDescriptor.CPPTYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT64: st.integers(0, 2**64 - 1),
}
# Doubles as money and rates arrive (integral, two decimals), at Envoy's integral limit, and anything else.
_DOUBLES = st.one_of(
    st.integers(-(10**9), 10**9).map(float),
    st.integers(-(10**9), 10**9).map(lambda cents: cents / 100),
    st.sampled_from([2.0**53, -(2.0**53), 2.0**53 - 1, 2.0**53 + 2, 0.0, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _scalar(field: FieldDescriptor) -> st.SearchStrategy:
    if field.cpp_type in _INTS:
        return _INTS[field.cpp_type]
    if field.cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
        return _DOUBLES
    if field.cpp_type == FieldDescriptor.CPPTYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        return st.sampled_from([value.number for value in field.enum_type.values])
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=6)
    return st.text(max_size=6)


def _fill(message: Message, data: st.DataObject, depth: int) -> None:
    for field in message.DESCRIPTOR.fields:
        if not data.draw(st.booleans()):
            continue
        nested = field.message_type
        if nested is not None and nested.GetOptions().map_entry:
            key_field, value_field = nested.fields_by_name["key"], nested.fields_by_name["value"]
            entries = getattr(message, field.name)
            for key in data.draw(st.lists(_scalar(key_field), max_size=3, unique=True)):
                if value_field.message_type is None:
                    entries[key] = data.draw(_scalar(value_field))
                elif depth < 2:
                    _fill(entries[key], data, depth + 1)
        elif nested is not None:
            if depth >= 2:
                continue
            if field.is_repeated:
                for _ in range(data.draw(st.integers(0, 3))):
                    _fill(getattr(message, field.name).add(), data, depth + 1)
            else:
                getattr(message, field.name).SetInParent()
                _fill(getattr(message, field.name), data, depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend(data.draw(st.lists(_scalar(field), max_size=3)))
        else:
            setattr(message, field.name, data.draw(_scalar(field)))


def _printed(print_json, message: Message) -> bytes | type[Exception]:
    try:
        return print_json(message)
    except Exception as exc:  # json_format refuses some values (NaN in a Struct); the printer must refuse them too
        return type(exc)


@pytest.mark.parametrize("descriptor", MESSAGES, ids=lambda d: d.full_name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_message_prints_as_json_format_prints_it(descriptor: Descriptor, data: st.DataObject) -> None:
    message = API.message_class(descriptor)()
    _fill(message, data, 0)
    assert _printed(message_json, message) == _printed(generic_message_json, message)


def test_every_response_but_those_with_enums_or_well_known_types_takes_the_one_pass_path() -> None:
    generic = [name for name in RESPONSES if render._plan(API.pool.FindMessageTypeByName(name)) is None]
    assert generic == []
    assert len(RESPONSES) > 15


def test_unset_optional_fields_are_left_out_and_integral_doubles_print_as_integers() -> None:
    overview = API.message_class(API.pool.FindMessageTypeByName("carthouse.v1.OverviewResponse"))
    body = message_json(overview(total_revenue=12450.0, avg_order_value=50.82, days=30))
    assert body.startswith(b'{"total_revenue":12450,"net_revenue":0,"total_orders":0,')
    assert b'"avg_order_value":50.82' in body
    series = API.message_class(API.pool.FindMessageTypeByName("carthouse.v1.RevenueTimeseriesResponse"))()
    for revenue in (math.nan, -math.inf, 2.0**53, 2.0**53 - 1, 0.5):
        series.series.add(date="2026-01-01", revenue=revenue)
    revenues = [row.split(b'"revenue":')[1].split(b",")[0] for row in message_json(series).split(b"},{")]
    assert revenues == [b'"NaN"', b'"-Infinity"', b"9007199254740992.0", b"9007199254740991", b"0.5"]


def test_map_keys_print_as_json_format_prints_them() -> None:
    # No map of the API has bool or integer keys yet; ProtoJSON prints them as "true"/"false" and decimal strings.
    assert [render._map_key(key) for key in (True, False, -3, "2026-01")] == ["true", "false", "-3", "2026-01"]
