"""Turning a validated event into its stored row (one JSONCompactEachRow line for the events table)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import orjson

from carthouse.money import decimal_from_json
from services.ingest.amounts import EventAmounts
from services.ingest.enrichment import classify_user_agent, country_of
from services.ingest.model import IncomingEvent, IncomingItem, RequestContext
from services.ingest.validation import TRANSACTION_EVENTS

DEDUP_TTL_SECONDS = 24 * 3600


@dataclass(slots=True)
class StoredEvent:
    """A row (a StoredRow as a JSON array) ready to write, with the keys that make a re-send of it a duplicate."""

    appspace_id: str
    line: bytes
    dedup_keys: tuple[str, ...]
    # (event_type, transaction_id) for purchases and refunds: checked in ClickHouse when Redis is down.
    transaction: tuple[str, str] | None
    # The client's event_id ('' if none): checked in ClickHouse when a stopped writer left its key claimed.
    client_event_id: str = ""


def clickhouse_time(moment: datetime) -> str:
    """'YYYY-MM-DD hh:mm:ss.mmm' of a UTC moment (isoformat truncates to milliseconds, as ClickHouse's
    DateTime64(3) would; half the cost of strftime)."""
    return moment.isoformat(" ", "milliseconds")[:23]


def property_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def _original(value: float | None) -> str | None:
    return None if value is None else str(decimal_from_json(value))


def client_of(event: IncomingEvent, request: RequestContext) -> tuple[str, str]:
    """(ip, user_agent) the event is enriched with: what a server sender passes in context wins over what
    the request shows."""
    context = event.context
    return context.get("ip") or request.ip, context.get("user_agent") or request.user_agent


def dedup_keys(appspace_id: str, event: IncomingEvent) -> tuple[str, ...]:
    keys = []
    if event.event_type in TRANSACTION_EVENTS:
        keys.append(f"dedup:{appspace_id}:{event.event_type}:{event.transaction_id}")
    if event.event_id:
        keys.append(f"dedup:{appspace_id}:id:{event.event_id}")
    return tuple(keys)


class StoredRow(NamedTuple):
    """One event as ingest writes it into events_ingest, in column order (JSONCompactEachRow: positional, no key
    names to encode or match per row). Money in base-currency minor units; ``*_original`` as sent."""

    appspace_id: str
    event_time: str
    event_id: str
    client_event_id: str
    event_type: str
    user_id: str
    anonymous_id: str
    cart_id: str
    transaction_id: str
    revenue: int | None
    discount: int
    shipping: int
    tax: int
    currency: str
    revenue_original: str | None
    discount_original: str
    shipping_original: str
    tax_original: str
    fx_rate: str
    coupon_code: str
    items_item_id: list[object]
    items_item_name: list[object]
    items_item_category: list[object]
    items_item_brand: list[object]
    items_item_variant: list[object]
    items_item_list_name: list[object]
    items_item_list_id: list[object]
    items_item_image_url: list[object]
    items_price: list[object]
    items_price_original: list[object]
    items_quantity: list[object]
    items_currency: list[object]
    items_coupon_code: list[object]
    items_discount: list[object]
    properties: dict[str, str]
    ip: str
    user_agent: str
    country: str
    device_type: str
    platform: str
    locale: str
    key_kind: str
    fraud_severity: int
    fraud_reasons: list[str]
    received_at: str
    seq: int


# events_ingest's column names in StoredRow's order (items_x is the Nested column items.x).
EVENT_COLUMNS: tuple[str, ...] = tuple(
    "items." + name.removeprefix("items_") if name.startswith("items_") else name for name in StoredRow._fields)
_NO_ITEMS: tuple[list[object], ...] = tuple([] for _ in range(14))


def _item_columns(
    items: list[IncomingItem], currencies: list[str], amounts: EventAmounts
) -> tuple[list[object], ...]:
    """The 14 items.* columns: one tuple per item, transposed."""
    if not items:
        return _NO_ITEMS
    per_item = [
        (
            i.item_id, i.item_name, i.item_category, i.item_brand, i.item_variant, i.item_list_name,
            i.item_list_id, i.item_image_url,
            amounts.minor(f"items[{n}].price", i.price, c),
            _original(i.price),
            1 if i.quantity is None else int(i.quantity),
            c,
            i.coupon_code,
            amounts.minor(f"items[{n}].discount", i.discount, c) or 0,
        )
        for n, (i, c) in enumerate(zip(items, currencies, strict=True))
    ]
    return tuple(list(column) for column in zip(*per_item, strict=True))


def build_row(
    event: IncomingEvent,
    *,
    appspace_id: str,
    base_currency: str,
    event_time: str,
    received_at: str,
    key_kind: str,
    request: RequestContext,
    amounts: EventAmounts,
    seq: int,
    enrich: bool = True,
) -> StoredEvent:
    """The stored row; times come preformatted (clickhouse_time) since a request shares them, amounts in
    base-currency minor units from ``amounts``, ``seq`` the event's index in its request (the order the client
    sent, which breaks ties of equal event time).

    An event without a client event_id gets one here, once: a group's INSERT repeated after a failure then
    writes the same id to every table, whichever of them the failed attempt reached."""
    currency = event.currency or base_currency
    items = event.items
    item_currencies = [item.currency or currency for item in items]
    context = event.context
    ip, user_agent = client_of(event, request)
    device_type, platform = classify_user_agent(user_agent) if enrich else ("unknown", "unknown")
    (items_item_id, items_item_name, items_item_category, items_item_brand, items_item_variant, items_item_list_name,
     items_item_list_id, items_item_image_url, items_price, items_price_original, items_quantity, items_currency,
     items_coupon_code, items_discount) = _item_columns(items, item_currencies, amounts)
    row = StoredRow(
        appspace_id=appspace_id,
        event_time=event_time,
        event_id=event.event_id or str(uuid.uuid4()),
        client_event_id=event.event_id,
        event_type=event.event_type,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        cart_id=event.cart_id,
        transaction_id=event.transaction_id,
        revenue=amounts.minor("revenue", event.revenue, currency),
        discount=amounts.minor("discount", event.discount, currency) or 0,
        shipping=amounts.minor("shipping", event.shipping, currency) or 0,
        tax=amounts.minor("tax", event.tax, currency) or 0,
        currency=currency,
        revenue_original=_original(event.revenue),
        discount_original=_original(event.discount) or "0",
        shipping_original=_original(event.shipping) or "0",
        tax_original=_original(event.tax) or "0",
        fx_rate=amounts.rate(currency),
        coupon_code=event.coupon_code,
        items_item_id=items_item_id,
        items_item_name=items_item_name,
        items_item_category=items_item_category,
        items_item_brand=items_item_brand,
        items_item_variant=items_item_variant,
        items_item_list_name=items_item_list_name,
        items_item_list_id=items_item_list_id,
        items_item_image_url=items_item_image_url,
        items_price=items_price,
        items_price_original=items_price_original,
        items_quantity=items_quantity,
        items_currency=items_currency,
        items_coupon_code=items_coupon_code,
        items_discount=items_discount,
        properties={key: property_text(value) for key, value in event.properties.items()},
        ip=ip,
        user_agent=user_agent,
        country=context.get("country") or (country_of(ip) if enrich else "unknown"),
        device_type=context.get("device_type") or device_type,
        platform=context.get("platform") or platform,
        locale=context.get("locale", ""),
        key_kind=key_kind,
        fraud_severity=0,
        fraud_reasons=[],
        received_at=received_at,
        seq=seq,
    )
    transaction = (event.event_type, event.transaction_id) if event.event_type in TRANSACTION_EVENTS else None
    return StoredEvent(
        appspace_id=appspace_id,
        line=orjson.dumps(tuple(row)),
        dedup_keys=dedup_keys(appspace_id, event),
        transaction=transaction,
        client_event_id=event.event_id or "",
    )


def with_verdict(stored: StoredEvent, severity: int, reasons: list[str]) -> StoredEvent:
    """The row marked with FraudService's verdict (rare: only flagged or annotated events are re-encoded)."""
    row = StoredRow(*orjson.loads(stored.line))._replace(fraud_severity=severity, fraud_reasons=reasons)
    return StoredEvent(stored.appspace_id, orjson.dumps(tuple(row)), stored.dedup_keys, stored.transaction,
                       stored.client_event_id)
