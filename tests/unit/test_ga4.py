"""GA4 export rows as Carthouse events (app/ga4.py): the mapping docs/IMPORT.md states, field by field."""

from __future__ import annotations

from app.ga4 import event_of


def test_a_refund_takes_refund_value_and_a_direct_visit_is_no_campaign() -> None:
    row = {"event_name": "refund", "event_timestamp": "1767225600000000", "user_pseudo_id": "9.9",
           "ecommerce": {"transaction_id": "o-7", "purchase_revenue": 80.0, "refund_value": 20.0},
           "traffic_source": {"name": "(direct)", "source": "(direct)", "medium": "(none)"},
           "event_params": [{"key": "currency", "value": {"string_value": "JPY"}}]}
    assert event_of(row) == {"event_type": "refund", "timestamp": "2026-01-01T00:00:00.000Z", "anonymous_id": "9.9",
                             "transaction_id": "o-7", "currency": "JPY", "revenue": 20.0}


def test_a_search_keeps_its_term_and_the_first_visits_campaign_when_the_event_has_none() -> None:
    row = {"event_name": "search", "event_timestamp": "1767225600123000", "user_id": "u1",
           "event_params": [{"key": "search_term", "value": {"string_value": "mugs"}},
                            {"key": "ga_session_id", "value": {"int_value": 17}}],
           "collected_traffic_source": {"manual_campaign_name": None},
           "traffic_source": {"name": "spring", "source": "google", "medium": "cpc"},
           "device": {"category": "desktop", "operating_system": "Macintosh"}}
    assert event_of(row) == {"event_type": "search", "timestamp": "2026-01-01T00:00:00.123Z", "user_id": "u1",
                             "properties": {"campaign": "spring", "source": "google", "medium": "cpc",
                                            "search_term": "mugs"},
                             "context": {"device_type": "desktop", "platform": "macos"}}


def test_events_that_are_not_ecommerce_are_skipped_and_items_without_an_id_dropped() -> None:
    assert event_of({"event_name": "page_view"}) is None
    row = {"event_name": "add_to_cart", "items": [{"item_id": "(not set)", "price": 3}, {"item_id": "s1",
                                                  "item_name": "(not set)", "price": 3, "quantity": 2}]}
    assert event_of(row) == {"event_type": "add_to_cart", "items": [{"item_id": "s1", "price": 3, "quantity": 2}]}
