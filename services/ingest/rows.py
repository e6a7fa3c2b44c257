"""Turning a validated event into its stored row (one JSONEachRow line for the events table)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from carthouse.money import decimal_from_json, to_minor_units
from services.ingest.model import IncomingEvent, RequestContext
from services.ingest.validation import TRANSACTION_EVENTS, ValidationError

DEDUP_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A row ready to write, with the keys that make a re-send of it a duplicate."""

    appspace_id: str
    line: str
    dedup_keys: tuple[str, ...]
    # (event_type, transaction_id) for purchases and refunds: checked in ClickHouse when Redis is down.
    transaction: tuple[str, str] | None


def clickhouse_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def property_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def _accepted_currency(code: str, base: str, where: str) -> str:
    """Until FxService lands only the base currency is recorded; anything else is refused by name."""
    currency = code or base
    if currency != base:
        raise ValidationError(
            f"Unsupported currency: {currency} ({where}; this appspace records {base} only until "
            "currency conversion is available)"
        )
    return currency


def _minor(value: float | None, currency: str) -> int:
    return 0 if value is None else to_minor_units(decimal_from_json(value), currency)


def _original(value: float | None) -> str | None:
    return None if value is None else str(decimal_from_json(value))


def dedup_keys(appspace_id: str, event: IncomingEvent) -> tuple[str, ...]:
    keys = []
    if event.event_type in TRANSACTION_EVENTS:
        keys.append(f"dedup:{appspace_id}:{event.event_type}:{event.transaction_id}")
    if event.event_id:
        keys.append(f"dedup:{appspace_id}:id:{event.event_id}")
    return tuple(keys)


def build_row(
    event: IncomingEvent,
    *,
    appspace_id: str,
    base_currency: str,
    event_time: datetime,
    received_at: datetime,
    key_kind: str,
    request: RequestContext,
) -> StoredEvent:
    currency = _accepted_currency(event.currency, base_currency, "currency")
    items = event.items
    item_currencies = [
        _accepted_currency(item.currency or currency, base_currency, f"items[{i}].currency")
        for i, item in enumerate(items)
    ]
    context = event.context
    row = {
        "appspace_id": appspace_id,
        "event_time": clickhouse_time(event_time),
        "event_id": event.event_id or str(uuid.uuid4()),
        "client_event_id": event.event_id,
        "event_type": event.event_type,
        "user_id": event.user_id,
        "anonymous_id": event.anonymous_id,
        "cart_id": event.cart_id,
        "transaction_id": event.transaction_id,
        "revenue": None if event.revenue is None else _minor(event.revenue, currency),
        "discount": _minor(event.discount, currency),
        "shipping": _minor(event.shipping, currency),
        "tax": _minor(event.tax, currency),
        "currency": currency,
        "revenue_original": _original(event.revenue),
        "discount_original": _original(event.discount) or "0",
        "shipping_original": _original(event.shipping) or "0",
        "tax_original": _original(event.tax) or "0",
        "fx_rate": "1",
        "coupon_code": event.coupon_code,
        "items.item_id": [i.item_id for i in items],
        "items.item_name": [i.item_name for i in items],
        "items.item_category": [i.item_category for i in items],
        "items.item_brand": [i.item_brand for i in items],
        "items.item_variant": [i.item_variant for i in items],
        "items.item_list_name": [i.item_list_name for i in items],
        "items.item_list_id": [i.item_list_id for i in items],
        "items.item_image_url": [i.item_image_url for i in items],
        "items.price": [
            None if i.price is None else _minor(i.price, c) for i, c in zip(items, item_currencies, strict=True)
        ],
        "items.price_original": [_original(i.price) for i in items],
        "items.quantity": [1 if i.quantity is None else int(i.quantity) for i in items],
        "items.currency": item_currencies,
        "items.coupon_code": [i.coupon_code for i in items],
        "items.discount": [_minor(i.discount, c) for i, c in zip(items, item_currencies, strict=True)],
        "properties": {key: property_text(value) for key, value in event.properties.items()},
        "ip": context.get("ip") or request.ip,
        "user_agent": context.get("user_agent") or request.user_agent,
        "country": context.get("country") or "unknown",
        "device_type": context.get("device_type") or "unknown",
        "platform": context.get("platform") or "unknown",
        "locale": context.get("locale", ""),
        "key_kind": key_kind,
        "fraud_severity": 0,
        "fraud_reasons": [],
        "received_at": clickhouse_time(received_at),
    }
    transaction = (event.event_type, event.transaction_id) if event.event_type in TRANSACTION_EVENTS else None
    return StoredEvent(
        appspace_id=appspace_id,
        line=json.dumps(row, ensure_ascii=False, default=_json_default),
        dedup_keys=dedup_keys(appspace_id, event),
        transaction=transaction,
    )


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)
