"""Property tests (hypothesis) of the validators and the money arithmetic: whatever a client sends, the
validators answer with a ValidationError or let through only what the store can hold, and converting amounts
one by one never drifts from converting their sum by more than the rounding rules allow."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from carthouse.money import cross_rate, decimal_from_json, from_minor_units, to_base_minor_units, to_minor_units
from gateway.binding import BindingError, build_request
from gateway.descriptors import ApiDescriptors
from services.ingest.model import IncomingEvent, IncomingItem
from services.ingest.validation import (
    EVENT_TYPES,
    MAX_AMOUNT,
    MAX_QUANTITY,
    MAX_STRING,
    Limits,
    ValidationError,
    parse_timestamp,
    validate_event,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SECRET = Limits(now=NOW, is_secret_key=True, retention_days=365)
DIGITS = {"USD": 2, "JPY": 0, "KWD": 3}

# ---------------------------------------------------------------- money

# 15 significant digits: every such decimal survives the trip through a JSON number (an IEEE double).
cents = st.integers(min_value=0, max_value=10**15 - 1)
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=10)
bases = st.sampled_from(sorted(DIGITS))


@given(cents)
def test_a_json_amount_becomes_exactly_the_cents_written(minor: int) -> None:
    text = f"{minor // 100}.{minor % 100:02d}"
    assert to_minor_units(decimal_from_json(float(text)), "USD") == minor
    assert from_minor_units(minor, "USD") == Decimal(text)


@given(st.lists(cents, min_size=1, max_size=50), rates, bases)
def test_converting_each_amount_never_drifts_from_converting_the_sum(amounts: list[int], rate: Decimal,
                                                                      base: str) -> None:
    decimals = [from_minor_units(a, "EUR") for a in amounts]
    scale = Decimal(10) ** DIGITS[base]
    each = [to_base_minor_units(d, rate, base) for d in decimals]
    # Every converted amount is the exact product rounded once: at most half a minor unit off.
    for converted, amount in zip(each, decimals, strict=True):
        assert abs(converted - amount * rate * scale) <= Decimal("0.5")
    # So the sum of n stored amounts is within n/2 minor units of the converted total, never more (no float).
    assert abs(sum(each) - to_base_minor_units(sum(decimals), rate, base)) <= (len(amounts) + 1) / 2


@given(st.lists(cents, min_size=1, max_size=50))
def test_amounts_in_the_base_currency_add_up_exactly(amounts: list[int]) -> None:
    decimals = [decimal_from_json(float(from_minor_units(a, "USD"))) for a in amounts]
    assert sum(to_base_minor_units(d, Decimal(1), "USD") for d in decimals) == sum(amounts)


@given(st.integers(min_value=0, max_value=10**12))
def test_halves_round_to_even(whole: int) -> None:
    assert to_minor_units(Decimal(whole) + Decimal("0.5"), "JPY") % 2 == 0


pivot_rates = st.dictionaries(st.sampled_from(["USD", "EUR", "JPY", "KWD", "GBP"]), rates, min_size=5)


@given(pivot_rates)
def test_cross_rates_are_consistent(table: dict[str, Decimal]) -> None:
    there_and_back = cross_rate("EUR", "JPY", table) * cross_rate("JPY", "EUR", table)
    assert abs(there_and_back - 1) < Decimal("1e-30")
    via_usd = cross_rate("EUR", "USD", table) * cross_rate("USD", "KWD", table)
    # The test multiplies at Decimal's default 28 digits; the rates themselves carry 34.
    assert abs(via_usd - cross_rate("EUR", "KWD", table)) <= abs(via_usd) * Decimal("1e-26")


# ---------------------------------------------------------------- validators

any_float = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**16, 10**16))
any_text = st.one_of(st.text(max_size=20), st.sampled_from(["", "usd", "USD", "JPY", "XYZ", "'; DROP TABLE", "%s"]),
                     st.text(min_size=MAX_STRING - 1, max_size=MAX_STRING + 2, alphabet="ab"))
items = st.builds(IncomingItem, item_id=any_text, price=any_float, quantity=any_float, currency=any_text,
                  discount=any_float)
events = st.builds(
    IncomingEvent,
    event_type=st.one_of(st.sampled_from(sorted(EVENT_TYPES)), any_text),
    transaction_id=any_text, revenue=any_float, currency=any_text, user_id=any_text, cart_id=any_text,
    coupon_code=any_text, discount=any_float, shipping=any_float, tax=any_float,
    items=st.lists(items, max_size=3),
    properties=st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), any_float, st.booleans(),
                                                              st.lists(st.integers(), max_size=2))),
    event_id=st.one_of(st.just(""), st.uuids().map(str), any_text),
)


def _amounts(event: IncomingEvent) -> list[float]:
    values = [event.revenue, event.discount, event.shipping, event.tax]
    values += [v for item in event.items for v in (item.price, item.discount)]
    return [v for v in values if v is not None]


@settings(max_examples=300)
@given(events)
def test_validation_refuses_with_a_message_or_passes_only_storable_events(event: IncomingEvent) -> None:
    try:
        validate_event(event, SECRET)
    except ValidationError as exc:
        assert str(exc)
        return
    assert event.event_type in EVENT_TYPES
    for amount in _amounts(event):
        assert math.isfinite(amount) and amount >= 0 and Decimal(repr(float(amount))) < MAX_AMOUNT
    for item in event.items:
        assert item.item_id
        assert item.quantity is None or (item.quantity == int(item.quantity) and 1 <= item.quantity <= MAX_QUANTITY)
    assert event.currency in ("", "USD", "JPY") or len(event.currency) == 3
    assert all(len(getattr(event, name)) <= MAX_STRING for name in ("transaction_id", "user_id", "coupon_code"))
    assert all(isinstance(v, str | float | int | bool) for v in event.properties.values())


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.sampled_from([UTC, None])))
def test_a_timestamp_is_accepted_exactly_inside_the_window(moment: datetime) -> None:
    as_utc = moment.replace(tzinfo=UTC)
    inside = NOW - timedelta(days=365) <= as_utc <= NOW + timedelta(minutes=10)
    try:
        assert parse_timestamp(moment.isoformat(), SECRET) == as_utc and inside
    except ValidationError:
        assert not inside


@example("9999-12-31T23:59:59-23:59")  # found while writing this test: astimezone overflowed (a 500)
@example("0001-01-01T00:00:00+23:59")
@given(st.text())
def test_any_timestamp_text_is_a_date_or_a_validation_error(text: str) -> None:
    with contextlib.suppress(ValidationError):
        parse_timestamp(text, SECRET)


_API = ApiDescriptors()
_TRACK = next(r for r in _API.routes if r.template.endswith("/ecommerce/track"))
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
event_like = st.fixed_dictionaries({}, optional={
    name: json_values for name in ("event_type", "revenue", "items", "properties", "context", "currency",
                                   "user_id", "timestamp", "quantity")
})


@settings(max_examples=300)
@given(st.one_of(json_values, event_like, st.lists(event_like, max_size=3).map(lambda e: {"events": e})))
def test_any_json_body_binds_or_is_a_400(body: object) -> None:
    try:
        build_request(_TRACK, {}, [], body)
    except BindingError as exc:
        assert str(exc)
