"""JSON (already parsed by orjson) to protobuf messages, with proto3's JSON mapping rules as Envoy's
transcoder applies them: proto or json field names, unknown fields ignored, null means "not set", numbers
may be sent as strings, 64-bit and 32-bit ranges enforced, google.protobuf.Struct for free-form objects.

json_format.ParseDict does the same in general but walks descriptors in Python for every value; this
converter compiles a plan per message type once and builds each message with one constructor call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

Convert = Callable[[Any, str], Any]


class JsonBindingError(ValueError):
    """The text names the field path, e.g. 'events[3].revenue must be a number'."""


_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _string(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    raise JsonBindingError(f"{path} must be a string")


def _bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise JsonBindingError(f"{path} must be a boolean")


def _double(value: Any, path: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise JsonBindingError(f"{path} must be a number")


def _integer(kind: int) -> Convert:
    low, high = _INT_RANGES[kind]

    def convert(value: Any, path: str) -> int:
        number: Any = value
        if isinstance(value, str):
            try:
                number = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                raise JsonBindingError(f"{path} must be an integer") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise JsonBindingError(f"{path} must be an integer")
        if isinstance(number, float):
            if not number.is_integer():
                raise JsonBindingError(f"{path} must be an integer")
            number = int(number)
        if not low <= number <= high:
            raise JsonBindingError(f"{path} is out of range")
        return number

    return convert


def _struct(value: Any, path: str) -> dict[str, Any]:
    """A google.protobuf.Struct: its constructor takes the JSON object itself. (A Struct instance would be
    turned back into a dict and rebuilt by the parent's constructor: slower.)"""
    if not isinstance(value, dict):
        raise JsonBindingError(f"{path} must be an object")
    return value


class JsonToProto:
    """Converters compiled per message type, on first use."""

    def __init__(self) -> None:
        # Keyed by the descriptor itself: two pools may hold types of the same name with different classes.
        self._plans: dict[Descriptor, dict[str, tuple[str, Convert, bool]]] = {}

    def keywords(self, descriptor: Descriptor, data: Any, path: str = "") -> dict[str, Any]:
        """Checked constructor keywords for a message of this type; nested messages stay dicts, so the
        whole tree is built once, in C, by the top-level constructor."""
        if not isinstance(data, dict):
            raise JsonBindingError(f"{path or 'body'} must be an object")
        return self._fields(descriptor, data, path)

    def _fields(self, descriptor: Descriptor, data: dict[str, Any], path: str) -> dict[str, Any]:
        plan = self._plan(descriptor)
        kwargs: dict[str, Any] = {}
        prefix = f"{path}." if path else ""
        for key, value in data.items():
            entry = plan.get(key)
            if entry is None or value is None:
                continue
            name, convert, repeated = entry
            where = prefix + key
            if repeated:
                if not isinstance(value, list):
                    raise JsonBindingError(f"{where} must be an array")
                kwargs[name] = [convert(item, f"{where}[{i}]") for i, item in enumerate(value) if item is not None]
            else:
                kwargs[name] = convert(value, where)
        return kwargs

    def _plan(self, descriptor: Descriptor) -> dict[str, tuple[str, Convert, bool]]:
        plan = self._plans.get(descriptor)
        if plan is None:
            plan = {}
            for field in descriptor.fields:
                entry = (field.name, self._converter(field), field.is_repeated and not self._is_map(field))
                plan[field.name] = entry
                plan[field.json_name] = entry
            self._plans[descriptor] = plan
        return plan

    @staticmethod
    def _is_map(field: FieldDescriptor) -> bool:
        return field.message_type is not None and field.message_type.GetOptions().map_entry

    def _converter(self, field: FieldDescriptor) -> Convert:
        if self._is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            convert_value = self._converter(value_field)

            def convert_map(value: Any, path: str) -> dict[str, Any]:
                if not isinstance(value, dict):
                    raise JsonBindingError(f"{path} must be an object")
                return {str(k): convert_value(v, f"{path}.{k}") for k, v in value.items() if v is not None}

            return convert_map
        kind = field.type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            nested = field.message_type
            if nested.full_name == "google.protobuf.Struct":
                return _struct

            def convert_message(value: Any, path: str) -> dict[str, Any]:
                return self.keywords(nested, value, path)

            return convert_message
        if kind == FieldDescriptor.TYPE_STRING:
            return _string
        if kind == FieldDescriptor.TYPE_BOOL:
            return _bool
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return _double
        if kind in _INT_RANGES:
            return _integer(kind)
        if kind == FieldDescriptor.TYPE_ENUM:
            enum = field.enum_type

            def convert_enum(value: Any, path: str) -> int:
                if isinstance(value, str) and value in enum.values_by_name:
                    return enum.values_by_name[value].number
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
                raise JsonBindingError(f"{path} must be one of {', '.join(enum.values_by_name)}")

            return convert_enum
        raise JsonBindingError(f"{field.name}: unsupported field type")
