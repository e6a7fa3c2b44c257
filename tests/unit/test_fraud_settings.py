"""Per-appspace fraud settings: validation of what an operator sets, and which events a rule could catch."""

from __future__ import annotations

import pytest

from carthouse.tenancy.fraud_settings import DEFAULTS, FraudSettings, could_fire, effective, parse_setting


def test_values_are_parsed_from_json_or_plain_words() -> None:
    assert parse_setting("allowed_currencies", "usd, EUR") == ["USD", "EUR"]
    assert parse_setting("allowed_currencies", '["GBP"]') == ["GBP"]
    assert parse_setting("user_purchases_per_minute", "[3, 10]") == [3, 10]
    assert parse_setting("block_bots", "false") is False
    assert parse_setting("revenue_ceiling", "2500.5") == 2500.5


@pytest.mark.parametrize(("key", "text"), [
    ("revenue_ceiling", "0"), ("revenue_ceiling", "true"), ("items_factor", "-1"),
    ("ip_purchases_per_hour", "[10]"), ("ip_purchases_per_hour", "[10, 5]"), ("block_bots", "yes"),
    ("allowed_currencies", "USD,ZZZ"), ("nonsense", "1"),
])
def test_bad_values_are_refused(key: str, text: str) -> None:
    with pytest.raises(ValueError):
        parse_setting(key, text)


def test_overrides_apply_over_the_defaults() -> None:
    assert effective({"revenue_ceiling": 50, "unknown": 1}) == {**DEFAULTS, "revenue_ceiling": 50}
    settings = FraudSettings.from_overrides({"revenue_ceiling": 100.5})
    assert (settings.ceiling_minor(2), settings.ceiling_minor(0)) == (10050, 100)


def test_only_events_a_rule_could_catch_are_checked() -> None:
    defaults = FraudSettings.from_overrides({})
    assert could_fire("purchase", False, defaults)
    assert could_fire("view_item", True, defaults)
    assert not could_fire("view_item", False, defaults)
    assert not could_fire("view_item", True, FraudSettings.from_overrides({"block_bots": False}))
    assert could_fire("view_item", False, FraudSettings.from_overrides({"allowed_currencies": ["USD"]}))
