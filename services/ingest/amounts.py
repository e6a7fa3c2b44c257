"""Money fields of an event in the appspace's base currency: local when already in it, else through
FxService (one Convert call per request, made by the caller)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from carthouse.money import decimal_from_json, to_minor_units
from services.ingest.model import IncomingEvent
from services.ingest.validation import MAX_MINOR_UNITS


@dataclass(frozen=True)
class ForeignAmount:
    where: str
    amount: Decimal
    currency: str


def money_fields(event: IncomingEvent, base: str) -> Iterator[tuple[str, float | None, str]]:
    """(where, value, effective currency) of every money field; an item's currency falls back to the
    event's, and the event's to the base currency."""
    currency = event.currency or base
    yield "revenue", event.revenue, currency
    yield "discount", event.discount, currency
    yield "shipping", event.shipping, currency
    yield "tax", event.tax, currency
    for index, item in enumerate(event.items):
        item_currency = item.currency or currency
        yield f"items[{index}].price", item.price, item_currency
        yield f"items[{index}].discount", item.discount, item_currency


def foreign_amounts(event: IncomingEvent, base: str) -> list[ForeignAmount]:
    return [
        ForeignAmount(where, decimal_from_json(value), currency)
        for where, value, currency in money_fields(event, base)
        if value is not None and currency != base
    ]


@dataclass
class EventAmounts:
    """Base-currency minor units of one event's amounts; foreign ones come from FxService's answer."""

    base: str
    converted: dict[str, int] = field(default_factory=dict)
    rates: dict[str, str] = field(default_factory=dict)

    def minor(self, where: str, value: float | None, currency: str) -> int | None:
        if value is None:
            return None
        if currency == self.base:
            return to_minor_units(decimal_from_json(value), currency)
        return self.converted[where]

    def rate(self, currency: str) -> str:
        """Base units per unit of ``currency`` as used for this event."""
        return "1" if currency == self.base else self.rates.get(currency, "1")


def oversized_items(event: IncomingEvent, amounts: EventAmounts, base: str) -> str | None:
    """The message for an event whose items' price x quantity (one item's, or all items' together) would exceed
    MAX_MINOR_UNITS in the base currency, else None: stored cart values and product revenue are such products and
    their sums, which must stay inside Int64."""
    currency = event.currency or base
    total = 0
    for index, item in enumerate(event.items):
        price = amounts.minor(f"items[{index}].price", item.price, item.currency or currency) or 0
        line = price * (1 if item.quantity is None else int(item.quantity))
        if line > MAX_MINOR_UNITS:
            return f"items[{index}].price x quantity is too large"
        total += line
    return "items: the sum of price x quantity is too large" if total > MAX_MINOR_UNITS else None
