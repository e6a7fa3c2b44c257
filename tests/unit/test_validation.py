from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.model import IncomingEvent, IncomingItem
from services.ingest.validation import Limits, ValidationError, validate_event

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PUBLISHABLE = Limits(now=NOW, is_secret_key=False, retention_days=365)
SECRET = Limits(now=NOW, is_secret_key=True, retention_days=365)


def purchase(**changes: object) -> IncomingEvent:
    event = IncomingEvent(event_type="purchase", transaction_id="order_456", revenue=49.99, currency="USD",
                          items=[IncomingItem(item_id="sku_1", price=24.99, quantity=2)])
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def message(event: IncomingEvent, limits: Limits = PUBLISHABLE) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_event(event, limits)
    return str(caught.value)


def test_valid_purchase_passes() -> None:
    assert validate_event(purchase(), PUBLISHABLE) is None


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (IncomingEvent(), "event_type is required"),
        (IncomingEvent(event_type="checkout"), "Invalid ecommerce event_type"),
        (IncomingEvent(event_type="purchase", revenue=1.0), "transaction_id is required for purchase events"),
        (IncomingEvent(event_type="purchase", transaction_id="o1"), "revenue is required for purchase events"),
        (IncomingEvent(event_type="refund", revenue=1.0), "transaction_id is required for refund events"),
        (IncomingEvent(event_type="refund", transaction_id="o1"), "revenue is required for refund events"),
        (IncomingEvent(event_type="spend_credits"), "revenue is required for spend_credits events"),
        (IncomingEvent(event_type="view_item"), "items is required for view_item events"),
        (IncomingEvent(event_type="add_to_cart"), "items is required for add_to_cart events"),
        (IncomingEvent(event_type="remove_from_cart"), "items is required for remove_from_cart events"),
        (IncomingEvent(event_type="add_to_wishlist"), "items is required for add_to_wishlist events"),
    ],
)
def test_spec_messages(event: IncomingEvent, expected: str) -> None:
    assert message(event) == expected


@pytest.mark.parametrize("kind", ["view_cart", "add_payment_info", "begin_checkout", "search", "share", "rate"])
def test_event_types_without_required_fields(kind: str) -> None:
    assert validate_event(IncomingEvent(event_type=kind), PUBLISHABLE) is None


def test_item_without_item_id_is_rejected() -> None:
    assert message(purchase(items=[IncomingItem(item_id="a"), IncomingItem()])) == "items[1].item_id is required"


@pytest.mark.parametrize("quantity", [0, -1, 1.5, 2_000_000, float("inf")])
def test_quantity_must_be_a_positive_whole_number(quantity: float) -> None:
    event = purchase(items=[IncomingItem(item_id="a", quantity=quantity)])
    assert message(event) == "items[0].quantity must be a whole number from 1 to 1000000"


@pytest.mark.parametrize("revenue", [-1.0, float("nan"), float("inf")])
def test_revenue_must_be_finite_and_not_negative(revenue: float) -> None:
    assert message(purchase(revenue=revenue)) == "revenue must be a finite number >= 0"


def test_thirteen_digit_revenue_is_accepted_and_fourteen_refused() -> None:
    assert validate_event(purchase(revenue=9_999_999_999_999.99), PUBLISHABLE) is None
    assert message(purchase(revenue=1e13)) == "revenue is too large"


def test_unknown_currency_is_named() -> None:
    assert message(purchase(currency="XYZ")) == "Invalid currency: XYZ"


def test_lower_case_currency_is_normalised() -> None:
    event = purchase(currency="eur")
    validate_event(event, PUBLISHABLE)
    assert event.currency == "EUR"


def test_properties_must_be_scalars() -> None:
    assert message(purchase(properties={"ok": "x", "bad": {"nested": 1}})) == (
        "properties.bad must be a string, number or boolean"
    )


def test_event_id_must_be_a_uuid() -> None:
    assert message(purchase(event_id="not-a-uuid")) == "event_id must be a UUID"
    # The usual form, and upper case or braces, all end up as the usual form.
    for sent in ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
                 "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11"):
        event = purchase(event_id=sent)
        validate_event(event, SECRET)
        assert event.event_id == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def test_timestamp_rules() -> None:
    assert validate_event(purchase(timestamp="2026-11-26T10:00:00Z"), PUBLISHABLE) == datetime(
        2026, 11, 26, 10, 0, tzinfo=UTC)
    assert validate_event(purchase(timestamp="2026-11-26T11:00:00+01:00"), PUBLISHABLE) == datetime(
        2026, 11, 26, 10, 0, tzinfo=UTC)
    assert message(purchase(timestamp="yesterday")) == "timestamp must be an ISO 8601 date-time"
    future = (NOW + timedelta(minutes=11)).isoformat()
    assert message(purchase(timestamp=future)) == "timestamp must not be more than 10 minutes in the future"
    old = (NOW - timedelta(days=5)).isoformat()
    assert message(purchase(timestamp=old)) == "timestamp older than 72 hours requires a secret key"
    assert validate_event(purchase(timestamp=old), SECRET) == NOW - timedelta(days=5)
    ancient = (NOW - timedelta(days=400)).isoformat()
    assert message(purchase(timestamp=ancient), SECRET) == "timestamp is older than the plan's 365-day retention"
