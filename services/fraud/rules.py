"""Fraud rules as plain functions: each looks at one event and adds the reasons it fires, with a severity.

Severity: 0 clean, 1 flagged (stored, marked), 2 blocked (not stored, audited). The settings and their
defaults are in carthouse/tenancy/fraud_settings.py (and the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carthouse.tenancy.fraud_settings import FraudSettings

CLEAN, FLAGGED, BLOCKED = 0, 1, 2
# Revenue this many times the ceiling is not a real order but a typo or an attack: blocked, not flagged.
ABSURD_FACTOR = 100


@dataclass(slots=True)
class Verdict:
    severity: int = CLEAN
    reasons: list[str] = field(default_factory=list)

    def add(self, severity: int, reason: str) -> None:
        self.severity = max(self.severity, severity)
        self.reasons.append(reason)


@dataclass(frozen=True, slots=True)
class ScoredEvent:
    """What the rules read of an event; amounts in base-currency minor units."""

    event_type: str
    currency: str
    revenue_minor: int | None
    # Items subtotal + shipping + tax; None when an item has no price.
    expected_minor: int | None
    bot: bool
    user_agent_from_sender: bool


def bot_rule(event: ScoredEvent, secret_key: bool, settings: FraudSettings, verdict: Verdict) -> None:
    """Bots and automation on client-side keys; server senders (secret keys) are trusted unless they pass the
    client's user agent in context."""
    if settings.block_bots and event.bot and (not secret_key or event.user_agent_from_sender):
        verdict.add(BLOCKED, "bot_user_agent")


def revenue_rule(event: ScoredEvent, settings: FraudSettings, base_digits: int, verdict: Verdict) -> None:
    revenue = event.revenue_minor
    if revenue is None or event.event_type != "purchase":
        return
    ceiling = settings.ceiling_minor(base_digits)
    if revenue > ceiling * ABSURD_FACTOR:
        verdict.add(BLOCKED, "absurd_revenue")
    elif revenue > ceiling:
        verdict.add(FLAGGED, "revenue_above_ceiling")
    expected = event.expected_minor
    if expected is not None and expected > 0 and revenue > settings.items_factor * expected:
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
