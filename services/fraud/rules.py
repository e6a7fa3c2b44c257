"""Fraud rules as plain functions: each looks at one event and answers the reasons it fires, with a severity.

Severity: 0 clean, 1 flagged (stored, marked), 2 blocked (not stored, audited). Defaults, each overridable per
appspace (settings JSON):

| key | default | rule |
|---|---|---|
| revenue_ceiling | 100000 | revenue above it (base currency) -> flag; above 100 x it -> block |
| items_factor | 10 | revenue above factor x (items subtotal + shipping + tax) -> flag |
| user_purchases_per_minute | [5, 20] | soft, hard: purchases by one user in a minute of event time |
| ip_purchases_per_hour | [50, 200] | soft, hard: purchases from one client address in an hour of event time |
| allowed_currencies | [] (all) | other currencies -> block |
| block_bots | true | bot user agents on publishable keys -> block |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

CLEAN, FLAGGED, BLOCKED = 0, 1, 2

DEFAULTS: dict[str, Any] = {
    "revenue_ceiling": 100000,
    "items_factor": 10,
    "user_purchases_per_minute": [5, 20],
    "ip_purchases_per_hour": [50, 200],
    "allowed_currencies": [],
    "block_bots": True,
}


@dataclass(frozen=True)
class FraudSettings:
    revenue_ceiling: Decimal
    items_factor: Decimal
    user_per_minute: tuple[int, int]
    ip_per_hour: tuple[int, int]
    allowed_currencies: frozenset[str]
    block_bots: bool

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> FraudSettings:
        merged = {**DEFAULTS, **{k: v for k, v in overrides.items() if k in DEFAULTS}}
        return cls(
            revenue_ceiling=Decimal(str(merged["revenue_ceiling"])),
            items_factor=Decimal(str(merged["items_factor"])),
            user_per_minute=(int(merged["user_purchases_per_minute"][0]), int(merged["user_purchases_per_minute"][1])),
            ip_per_hour=(int(merged["ip_purchases_per_hour"][0]), int(merged["ip_purchases_per_hour"][1])),
            allowed_currencies=frozenset(code.upper() for code in merged["allowed_currencies"]),
            block_bots=bool(merged["block_bots"]),
        )


@dataclass
class Verdict:
    severity: int = CLEAN
    reasons: list[str] = field(default_factory=list)

    def add(self, severity: int, reason: str) -> None:
        self.severity = max(self.severity, severity)
        self.reasons.append(reason)


@dataclass(frozen=True)
class ScoredEvent:
    """What the rules read of an event (plain values from the request)."""

    event_type: str
    currency: str
    revenue: Decimal | None  # base currency
    revenue_original: Decimal | None
    items_subtotal: Decimal | None  # in the event's currency; None when items are priced in several currencies
    shipping: Decimal
    tax: Decimal
    device_type: str
    user_agent_from_sender: bool


def bot_rule(event: ScoredEvent, secret_key: bool, settings: FraudSettings, verdict: Verdict) -> None:
    """Bots and automation on client-side keys; server senders (secret keys) are trusted unless they pass the
    client's user agent in context."""
    if settings.block_bots and event.device_type == "bot" and (not secret_key or event.user_agent_from_sender):
        verdict.add(BLOCKED, "bot_user_agent")


def revenue_rule(event: ScoredEvent, settings: FraudSettings, verdict: Verdict) -> None:
    if event.revenue is None or event.event_type != "purchase":
        return
    if event.revenue > settings.revenue_ceiling * 100:
        verdict.add(BLOCKED, "absurd_revenue")
    elif event.revenue > settings.revenue_ceiling:
        verdict.add(FLAGGED, "revenue_above_ceiling")
    if event.items_subtotal is not None and event.revenue_original is not None:
        expected = event.items_subtotal + event.shipping + event.tax
        if expected > 0 and event.revenue_original > settings.items_factor * expected:
            verdict.add(FLAGGED, "revenue_far_above_items")


def currency_rule(event: ScoredEvent, settings: FraudSettings, verdict: Verdict) -> None:
    if settings.allowed_currencies and event.currency not in settings.allowed_currencies:
        verdict.add(BLOCKED, "currency_not_allowed")


def velocity_verdict(count: int, limits: tuple[int, int], reason: str, verdict: Verdict) -> None:
    """``count`` includes the event itself: above the soft limit flags, above the hard limit blocks."""
    soft, hard = limits
    if count > hard:
        verdict.add(BLOCKED, reason)
    elif count > soft:
        verdict.add(FLAGGED, reason)
