"""The purchase funnel with ClickHouse's windowFunnel: an actor reaches step k when it did steps 1..k in this
order within 7 days of its step-1 event, all inside the range. Read from funnel_steps (migration 0015): the
steps' events with an actor, a day's events of an actor side by side."""

from __future__ import annotations

from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import MOMENT, SCOPE

STEPS = ("view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info", "purchase")
# windowFunnel orders an actor's events by their moments (scope.MOMENT: an SDK batch sent without timestamps
# shares one time, and keeps its order); the 7-day window in the same units.
WINDOW = 7 * 24 * 3600 * 1000 * 256

LEVELS = f"""
SELECT level, count() AS actors
FROM (
    SELECT actor_key,
           windowFunnel({WINDOW})({MOMENT}, {", ".join(f"event_type = '{step}'" for step in STEPS)}) AS level
    FROM funnel_steps
    WHERE {SCOPE}
    GROUP BY actor_key
)
GROUP BY level
"""


def step_counts(store: Store, params: dict[str, Any]) -> list[int]:
    """Actors reaching each step (a deeper level counts at every step before it)."""
    rows = store.query(LEVELS, params)
    reached = {int(row["level"]): int(row["actors"]) for row in rows}
    return [sum(actors for level, actors in reached.items() if level >= step) for step in range(1, len(STEPS) + 1)]
