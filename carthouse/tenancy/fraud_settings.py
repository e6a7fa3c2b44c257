"""Per-appspace fraud settings: their keys, defaults and validation. Shared because AdminService validates
what an operator sets and FraudService reads it; the rules themselves live in services/fraud/rules.py.

| key | default | meaning |
|---|---|---|
| revenue_ceiling | 100000 | purchase revenue above it (base currency) -> flag; above 100 x it -> block |
| items_factor | 10 | revenue above factor x (items subtotal + shipping + tax) -> flag |
| user_purchases_per_minute | [5, 20] | soft, hard: purchases by one user in a minute of event time |
| ip_purchases_per_hour | [50, 200] | soft, hard: purchases from one client address in an hour of event time |
| allowed_currencies | [] (all) | other currencies -> block |
| block_bots | true | bot user agents on publishable keys -> block |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from carthouse.money import is_currency_code

DEFAULTS: dict[str, Any] = {
    "revenue_ceiling": 100000,
    "items_factor": 10,
    "user_purchases_per_minute": [5, 20],
    "ip_purchases_per_hour": [50, 200],
    "allowed_currencies": [],
    "block_bots": True,
}


def _positive_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError("must be a positive number")
    return value


def _limits(value: Any) -> Any:
    if (
        not isinstance(value, list) or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        or value[0] > value[1]
    ):
        raise ValueError("must be [soft, hard], two positive whole numbers with soft <= hard")
    return value


def _currencies(value: Any) -> Any:
    if isinstance(value, str):
        value = [code for code in value.split(",") if code.strip()]
    if not isinstance(value, list) or not all(isinstance(c, str) and is_currency_code(c.strip().upper())
                                              for c in value):
        raise ValueError("must be a list of ISO 4217 currency codes")
    return [c.strip().upper() for c in value]


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "revenue_ceiling": _positive_number,
    "items_factor": _positive_number,
    "user_purchases_per_minute": _limits,
    "ip_purchases_per_hour": _limits,
    "allowed_currencies": _currencies,
    "block_bots": _boolean,
}


def parse_setting(key: str, text: str) -> Any:
    """An operator's value (JSON, or a bare word such as USD,EUR) for ``key``, validated; ValueError names
    the problem."""
    if key not in _VALIDATORS:
        raise ValueError(f"unknown fraud setting {key!r} (known: {', '.join(_VALIDATORS)})")
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    try:
        return _VALIDATORS[key](value)
    except ValueError as exc:
        raise ValueError(f"fraud setting {key} {exc}") from None


@dataclass(frozen=True)
class FraudSettings:
    revenue_ceiling: Decimal
    items_factor: Decimal
    user_per_minute: tuple[int, int]
    ip_per_hour: tuple[int, int]
    allowed_currencies: frozenset[str]
    block_bots: bool

    def ceiling_minor(self, digits: int) -> int:
        """The revenue ceiling in minor units of a currency with ``digits`` decimals (rounded down)."""
        return int(self.revenue_ceiling.scaleb(digits))

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> FraudSettings:
        merged = effective(overrides)
        return cls(
            revenue_ceiling=Decimal(str(merged["revenue_ceiling"])),
            items_factor=Decimal(str(merged["items_factor"])),
            user_per_minute=(int(merged["user_purchases_per_minute"][0]), int(merged["user_purchases_per_minute"][1])),
            ip_per_hour=(int(merged["ip_purchases_per_hour"][0]), int(merged["ip_purchases_per_hour"][1])),
            allowed_currencies=frozenset(code.upper() for code in merged["allowed_currencies"]),
            block_bots=bool(merged["block_bots"]),
        )


def could_fire(event_type: str, bot: bool, settings: FraudSettings) -> bool:
    """Whether any rule could catch this event: bots (when blocked), purchases (revenue and velocity), and
    every event when the appspace restricts currencies. Ingest sends FraudService only these."""
    return bool(settings.allowed_currencies) or (bot and settings.block_bots) or event_type == "purchase"


def effective(overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults with an appspace's overrides applied (unknown keys ignored)."""
    return {**DEFAULTS, **{k: v for k, v in overrides.items() if k in DEFAULTS}}
