"""Encoding of query-parameter values in the text form ClickHouse parses them from (as over HTTP)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0", "\b": "\\b", "\f": "\\f"}


_ESCAPING = str.maketrans(_ESCAPES)


def _escape(text: str) -> str:
    return text.translate(_ESCAPING)


def _literal(value: Any) -> str:
    """A value inside a collection is written as a quoted SQL literal."""
    if isinstance(value, str):
        return "'" + _escape(value).replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    if value is None:
        return "NULL"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return str(value)


def encode_param(value: Any) -> str:
    """Top-level strings are escaped as in TSV (not quoted); collections are written as SQL literals,
    which ClickHouse parses as they are."""
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, (list, tuple)):
        return _literal(list(value))
    return _scalar(value)


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {name: encode_param(value) for name, value in params.items()}
