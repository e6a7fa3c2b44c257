"""The purchase funnel with ClickHouse's windowFunnel: an actor reaches step k when it did steps 1..k in this
order within 7 days of its step-1 event, all inside the range."""

from __future__ import annotations

from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import ACTOR_KEY, HAS_ACTOR, SCOPE

STEPS = ("view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info", "purchase")
WINDOW_MS = 7 * 24 * 3600 * 1000

LEVELS = f"""
SELECT level, count() AS actors
FROM (
    SELECT {ACTOR_KEY} AS actor_key,
           windowFunnel({WINDOW_MS})(toUInt64(toUnixTimestamp64Milli(event_time)),
                                     {", ".join(f"event_type = '{step}'" for step in STEPS)}) AS level
    FROM events
    WHERE {SCOPE} AND {HAS_ACTOR} AND event_type IN ({", ".join(f"'{step}'" for step in STEPS)})
    GROUP BY actor_key
)
GROUP BY level
"""


def step_counts(store: Store, params: dict[str, Any]) -> list[int]:
    """Actors reaching each step (a deeper level counts at every step before it)."""
    reached = {int(row["level"]): int(row["actors"]) for row in store.query(LEVELS, params)}
    return [sum(actors for level, actors in reached.items() if level >= step) for step in range(1, len(STEPS) + 1)]
