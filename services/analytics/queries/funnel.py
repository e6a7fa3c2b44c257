"""The purchase funnel with ClickHouse's windowFunnel: an actor reaches step k when it did steps 1..k in this
order within 7 days of its step-1 event, all inside the range. Read from funnel_steps (migration 0015): the
steps' events with an actor, a day's events of an actor side by side; or, for a range that no stored event passes
beyond (every range ending today), from each actor's reach (services/analytics/funnel_reach.py), the actors
whose new events the background worker has not reached yet from their events as above."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import (
    IN_SUBQUERY_NOT_IN_PREWHERE,
    MOMENT,
    PENDING_USERS,
    SCOPE,
    SINCE_MOMENT,
    in_whole_hours,
)

STEPS = ("view_item", "add_to_cart", "view_cart", "begin_checkout", "add_payment_info", "purchase")
# windowFunnel orders an actor's events by their moments (scope.MOMENT: an SDK batch sent without timestamps
# shares one time, and keeps its order); the 7-day window in the same units.
WINDOW = 7 * 24 * 3600 * 1000 * 256

_WINDOW_FUNNEL = f"windowFunnel({WINDOW})({MOMENT}, {', '.join(f'event_type = {step!r}' for step in STEPS)})"
LEVELS = f"""
SELECT level, count() AS actors
FROM (
    SELECT actor_key, {_WINDOW_FUNNEL} AS level
    FROM funnel_steps
    WHERE {SCOPE}
    GROUP BY actor_key
)
GROUP BY level
"""

# Where the reach worker's last round ended (funnel_progress holds no row before its first round).
DONE_UNTIL = "(SELECT max(done_until) FROM funnel_progress)"
# The reach answers the range: the worker has filled every actor, and no event lies at or after the range's end
# (the activity beside the reach, migration 0024, covers events of every type).
REACH_ANSWERS = """
SELECT (SELECT count() FROM funnel_progress) > 0
   AND (SELECT count() FROM events
        WHERE appspace_id = {appspace:String} AND event_time >= {until:DateTime64(3, 'UTC')}) = 0
"""
UNSTORED = f"""(SELECT actor_key FROM funnel_dirty
     WHERE appspace_id = {{appspace:String}} AND inserted_at > {DONE_UNTIL})"""
# The earliest moment of the events the worker has not reached yet: statements that count actors from the reach
# add the events from this moment on (2100-01-01 when nothing is marked: no event read).
UNSTORED_FROM = f"""(SELECT ifNull(minOrNull(first_moment), toUInt64(4102444800000) * 256) FROM funnel_dirty
     WHERE appspace_id = {{appspace:String}} AND inserted_at > {DONE_UNTIL})"""
# A count of actors from the reach hardly grows with the range, one from actor_hours does: on 10 M events over a
# year, by range length in days, reach / hours 17 / 8 ms (1), 24 / 20 (30), 40 / 33 (90), 49 / 71 (365), for the
# overview's viewing and carting actors.
REACH_AFTER = timedelta(days=120)
# An actor's level: the deepest whose latest chain start is in the range. Flagged events in or out as the scope
# says; users whose deletion is pending left out by the reach's user_id.
REACHED_LEVELS = f"""
SELECT level, count() AS actors
FROM (
    SELECT multiIf({", ".join(f"reach_{k} >= {SINCE_MOMENT}, {k}" for k in range(len(STEPS), 0, -1))}, 0) AS level
    FROM (
        SELECT actor_key, {", ".join(
            f"if({{include_flagged:UInt8}} = 1, max(reach_{k}), max(clean_reach_{k})) AS reach_{k}"
            for k in range(1, len(STEPS) + 1))}
        FROM funnel_reach
        WHERE appspace_id = {{appspace:String}} AND {PENDING_USERS}
        GROUP BY actor_key
    )
    WHERE actor_key NOT IN {UNSTORED}
    UNION ALL
    SELECT {_WINDOW_FUNNEL} AS level
    FROM funnel_steps
    WHERE {SCOPE} AND actor_key IN {UNSTORED}
    GROUP BY actor_key
)
GROUP BY level
SETTINGS {IN_SUBQUERY_NOT_IN_PREWHERE}
"""


def reach_answers(store: Store, params: dict[str, Any]) -> bool:
    """Whether the reach answers the range of ``params`` (never in cluster form, where its worker does not run)."""
    return not store.cluster and bool(store.scalar(REACH_ANSWERS, params))


def actors_from_reach(store: Store, params: dict[str, Any]) -> bool:
    """Whether a count of the range's actors is cheapest from the reach: it answers the range, and the range is
    longer than REACH_AFTER or of part hours (which actor_hours cannot answer)."""
    whole_hours = in_whole_hours(params)
    return ((not whole_hours or params["until"] - params["since"] > REACH_AFTER)
            and reach_answers(store, params))


def step_counts(store: Store, params: dict[str, Any]) -> list[int]:
    """Actors reaching each step (a deeper level counts at every step before it)."""
    from_reach = reach_answers(store, params)
    rows = store.query(REACHED_LEVELS if from_reach else LEVELS, params)
    reached = {int(row["level"]): int(row["actors"]) for row in rows}
    return [sum(actors for level, actors in reached.items() if level >= step) for step in range(1, len(STEPS) + 1)]
