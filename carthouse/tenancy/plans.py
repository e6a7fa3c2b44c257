"""Plan defaults from DESIGN.md; an appspace's settings may override each of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    ecommerce: bool
    retention_days: int
    # Ecommerce events per calendar month (UTC); None means unlimited.
    monthly_events: int | None


PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        Plan("free", ecommerce=False, retention_days=30, monthly_events=0),
        Plan("standard", ecommerce=True, retention_days=90, monthly_events=100_000),
        Plan("growth", ecommerce=True, retention_days=365, monthly_events=1_000_000),
        Plan("scale", ecommerce=True, retention_days=730, monthly_events=10_000_000),
        Plan("enterprise", ecommerce=True, retention_days=1825, monthly_events=None),
    )
}
