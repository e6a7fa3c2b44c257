"""Validation of incoming events, with the spec's exact messages.

Messages the spec prints are used verbatim; the ones it leaves open follow the same pattern
("<field> is required for <event_type> events") and are listed in docs/API.md.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from carthouse.money import decimal_from_json, is_currency_code
from services.ingest.model import IncomingEvent, IncomingItem

EVENT_TYPES = frozenset({
    "view_item", "add_to_cart", "remove_from_cart", "add_to_wishlist", "view_cart", "add_payment_info",
    "begin_checkout", "purchase", "refund", "search", "share", "rate", "spend_credits",
})
ITEM_EVENTS = frozenset({"view_item", "add_to_cart", "remove_from_cart", "add_to_wishlist"})
TRANSACTION_EVENTS = frozenset({"purchase", "refund"})
REVENUE_EVENTS = frozenset({"purchase", "refund", "spend_credits"})

MAX_BATCH = 100
MAX_AMOUNT = Decimal("1e13")  # 13 integer digits keep every currency's minor units inside Int64
# Converted amounts are stored in Int64 columns; this leaves room to sum a few hundred of the largest.
MAX_MINOR_UNITS = 10**16
MAX_QUANTITY = 1_000_000
MAX_STRING = 4096
PUBLISHABLE_BACKFILL = timedelta(hours=72)
MAX_CLOCK_SKEW = timedelta(minutes=10)
# What str(uuid.UUID(...)) gives: an event_id already in this form needs no normalising.
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")

EVENTS_REQUIRED = "events array is required and must not be empty"
BATCH_TOO_LARGE = "Maximum 100 events per batch"
EVENT_TYPE_REQUIRED = "event_type is required"
INVALID_EVENT_TYPE = "Invalid ecommerce event_type"


class ValidationError(ValueError):
    """The event breaks the contract; ``str(error)`` is the message the client sees."""


@dataclass(frozen=True)
class Limits:
    """What the caller may do, given its key and plan; the time window it implies, worked out once per request."""

    now: datetime
    is_secret_key: bool
    retention_days: int

    @cached_property
    def latest(self) -> datetime:
        return self.now + MAX_CLOCK_SKEW

    @cached_property
    def earliest_publishable(self) -> datetime:
        return self.now - PUBLISHABLE_BACKFILL

    @cached_property
    def earliest_kept(self) -> datetime:
        return self.now - timedelta(days=self.retention_days)


def _amount(name: str, value: float | None) -> Decimal | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise ValidationError(f"{name} must be a finite number >= 0")
    amount = decimal_from_json(value)
    if amount >= MAX_AMOUNT:
        raise ValidationError(f"{name} is too large")
    return amount


def _currency(name: str, code: str) -> str:
    if not code:
        return ""
    upper = code.strip().upper()
    if not is_currency_code(upper):
        raise ValidationError(f"Invalid currency: {code}")
    return upper


def parse_timestamp(text: str, limits: Limits) -> datetime:
    """The event time: ISO 8601 with an offset (no offset means UTC), inside the allowed window."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError("timestamp must be an ISO 8601 date-time") from None
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last date Python can represent
        raise ValidationError("timestamp must be an ISO 8601 date-time") from None
    if moment > limits.latest:
        raise ValidationError("timestamp must not be more than 10 minutes in the future")
    if not limits.is_secret_key and moment < limits.earliest_publishable:
        raise ValidationError("timestamp older than 72 hours requires a secret key")
    if moment < limits.earliest_kept:
        raise ValidationError(f"timestamp is older than the plan's {limits.retention_days}-day retention")
    return moment


def _check_item(index: int, item: IncomingItem) -> None:
    where = f"items[{index}]"
    if not item.item_id:
        raise ValidationError(f"{where}.item_id is required")
    _amount(f"{where}.price", item.price)
    _amount(f"{where}.discount", item.discount)
    item.currency = _currency(f"{where}.currency", item.currency)
    if item.quantity is not None and (
        not math.isfinite(item.quantity)
        or item.quantity != int(item.quantity)
        or not 1 <= item.quantity <= MAX_QUANTITY
    ):
        raise ValidationError(f"{where}.quantity must be a whole number from 1 to {MAX_QUANTITY}")


def _check_properties(properties: dict[str, object]) -> None:
    for key, value in properties.items():
        if not isinstance(value, (str, float, int, bool)):
            raise ValidationError(f"properties.{key} must be a string, number or boolean")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"properties.{key} must be a finite number")


def _check_lengths(event: IncomingEvent) -> None:
    for name in ("transaction_id", "user_id", "cart_id", "coupon_code", "anonymous_id"):
        if len(getattr(event, name)) > MAX_STRING:
            raise ValidationError(f"{name} must be at most {MAX_STRING} characters")


def validate_event(event: IncomingEvent, limits: Limits) -> datetime | None:
    """Raise ValidationError with the client-facing message; return the parsed event time, if one was sent.

    Normalises in place what has one right form (upper-case currency codes).
    """
    kind = event.event_type
    if not kind:
        raise ValidationError(EVENT_TYPE_REQUIRED)
    if kind not in EVENT_TYPES:
        raise ValidationError(INVALID_EVENT_TYPE)
    if kind in TRANSACTION_EVENTS and not event.transaction_id:
        raise ValidationError(f"transaction_id is required for {kind} events")
    if kind in REVENUE_EVENTS and event.revenue is None:
        raise ValidationError(f"revenue is required for {kind} events")
    if kind in ITEM_EVENTS and not event.items:
        raise ValidationError(f"items is required for {kind} events")
    _check_lengths(event)
    for name in ("revenue", "discount", "shipping", "tax"):
        _amount(name, getattr(event, name))
    event.currency = _currency("currency", event.currency)
    for index, item in enumerate(event.items):
        _check_item(index, item)
    _check_properties(event.properties)
    if event.event_id and not CANONICAL_UUID.match(event.event_id):  # the usual form is kept as it is
        try:
            event.event_id = str(uuid.UUID(event.event_id))
        except ValueError:
            raise ValidationError("event_id must be a UUID") from None
    return parse_timestamp(event.timestamp, limits) if event.timestamp else None
