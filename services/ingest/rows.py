"""Turning a validated event into its stored row (one JSONCompactEachRow line for the events table)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from carthouse.money import decimal_from_json
from services.ingest.amounts import EventAmounts
from services.ingest.enrichment import classify_user_agent, country_of
from services.ingest.model import IncomingEvent, IncomingItem, RequestContext
from services.ingest.validation import TRANSACTION_EVENTS

DEDUP_TTL_SECONDS = 24 * 3600


@dataclass(slots=True)
class StoredEvent:
    """A row (JSON array in EVENT_COLUMNS order) ready to write, with the keys that make a re-send of it a duplicate."""

    appspace_id: str
    line: bytes
    dedup_keys: tuple[str, ...]
    # (event_type, transaction_id) for purchases and refunds: checked in ClickHouse when Redis is down.
    transaction: tuple[str, str] | None
    # The client's event_id ('' if none): checked in ClickHouse when a stopped writer left its key claimed.
    client_event_id: str = ""


def clickhouse_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


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


# Column order of the rows build_row produces (JSONCompactEachRow: positional, no key names to encode
# or match per row).
EVENT_COLUMNS: tuple[str, ...] = (
    "appspace_id", "event_time", "event_id", "client_event_id", "event_type", "user_id", "anonymous_id",
    "cart_id", "transaction_id", "revenue", "discount", "shipping", "tax", "currency", "revenue_original",
    "discount_original", "shipping_original", "tax_original", "fx_rate", "coupon_code",
    "items.item_id", "items.item_name", "items.item_category", "items.item_brand", "items.item_variant",
    "items.item_list_name", "items.item_list_id", "items.item_image_url", "items.price", "items.price_original",
    "items.quantity", "items.currency", "items.coupon_code", "items.discount",
    "properties", "ip", "user_agent", "country", "device_type", "platform", "locale", "key_kind",
    "fraud_severity", "fraud_reasons", "received_at", "seq",
)
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
    row: list[object] = [
        appspace_id,
        event_time,
        event.event_id or str(uuid.uuid4()),
        event.event_id,
        event.event_type,
        event.user_id,
        event.anonymous_id,
        event.cart_id,
        event.transaction_id,
        amounts.minor("revenue", event.revenue, currency),
        amounts.minor("discount", event.discount, currency) or 0,
        amounts.minor("shipping", event.shipping, currency) or 0,
        amounts.minor("tax", event.tax, currency) or 0,
        currency,
        _original(event.revenue),
        _original(event.discount) or "0",
        _original(event.shipping) or "0",
        _original(event.tax) or "0",
        amounts.rate(currency),
        event.coupon_code,
        *_item_columns(items, item_currencies, amounts),
        {key: property_text(value) for key, value in event.properties.items()},
        ip,
        user_agent,
        context.get("country") or (country_of(ip) if enrich else "unknown"),
        context.get("device_type") or device_type,
        context.get("platform") or platform,
        context.get("locale", ""),
        key_kind,
        0,
        [],
        received_at,
        seq,
    ]
    transaction = (event.event_type, event.transaction_id) if event.event_type in TRANSACTION_EVENTS else None
    return StoredEvent(
        appspace_id=appspace_id,
        line=orjson.dumps(row),
        dedup_keys=dedup_keys(appspace_id, event),
        transaction=transaction,
        client_event_id=event.event_id or "",
    )


_SEVERITY, _REASONS = EVENT_COLUMNS.index("fraud_severity"), EVENT_COLUMNS.index("fraud_reasons")


def with_verdict(stored: StoredEvent, severity: int, reasons: list[str]) -> StoredEvent:
    """The row marked with FraudService's verdict (rare: only flagged or annotated events are re-encoded)."""
    row = orjson.loads(stored.line)
    row[_SEVERITY], row[_REASONS] = severity, reasons
    return StoredEvent(stored.appspace_id, orjson.dumps(row), stored.dedup_keys, stored.transaction,
                       stored.client_event_id)
