"""Revenue queries on events / event_items: the overview's totals, the daily series, top products and the
breakdowns by device, platform, country and coupon. Amounts come back as exact minor units."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from carthouse.store import Store
from services.analytics.queries import carts, funnel
from services.analytics.queries.concurrent import share_of_cores, together
from services.analytics.queries.scope import (
    ACTOR_KEY,
    HAS_ACTOR,
    IN_SUBQUERY_NOT_IN_PREWHERE,
    MOMENT,
    PENDING_USERS,
    REFUND_OF_EXCLUDED,
    SCOPE,
    SINCE_MOMENT,
    in_whole_hours,
)

TOTALS = f"""
SELECT
    ifNull(sumIf(toInt128(revenue), event_type = 'purchase'), 0) AS purchase_revenue,
    countIf(event_type = 'purchase') AS orders,
    ifNull(sumIf(toInt128(revenue), event_type = 'refund'), 0) AS refund_amount,
    countIf(event_type = 'refund') AS refunds
FROM events
WHERE {SCOPE} AND event_type IN ('purchase', 'refund')
"""

# Distinct actors who carted and who viewed a product: from actor_hours, a row per actor and hour with a bit per
# event type it did (migration 0020), when the range is whole hours (scope.in_whole_hours); else from events. One
# grouping by actor of its bits, then two counts: one hash table where two uniqExact states cost ~60 % more.
VIEW_BIT, CART_BIT = 0, 1  # view_item and add_to_cart in migration 0020's ACTIVITY
ACTORS_BY_HOUR = f"""
SELECT countIf(bitTest(did_in_range, {CART_BIT})) AS cart_actors,
       countIf(bitTest(did_in_range, {VIEW_BIT})) AS viewing_actors
FROM (
    SELECT actor_key, groupBitOr(did) AS did_in_range
    FROM actor_hours
    WHERE appspace_id = {{appspace:String}}
      AND hour >= {{since:DateTime64(3, 'UTC')}} AND hour < {{until:DateTime64(3, 'UTC')}}
      AND (flagged = 0 OR {{include_flagged:UInt8}} = 1)
      AND {PENDING_USERS}
      AND bitAnd(did, {(1 << VIEW_BIT) | (1 << CART_BIT)}) != 0
    GROUP BY actor_key
)
"""
ACTORS = f"""
SELECT uniqExactIf({ACTOR_KEY}, event_type = 'add_to_cart' AND {HAS_ACTOR}) AS cart_actors,
       uniqExactIf({ACTOR_KEY}, event_type = 'view_item' AND {HAS_ACTOR}) AS viewing_actors
FROM events
WHERE {SCOPE} AND event_type IN ('add_to_cart', 'view_item')
"""

# The same from the funnel reach (services/analytics/funnel_reach.py), for a range that no stored step event passes
# beyond (funnel.REACH_ANSWERS: every range ending today): reach_1 is an actor's last product view, last_cart its
# last add to cart (migration 0023), so it did either in the range when that is at or after the range's start, on
# any row of it (rows merge with max()), or when one of the step events the worker has not reached yet (at or after
# the earliest first moment of the actors marked after its mark) did it. Distinct actors over both, no grouping:
# 10 M events over a year, 52-62 ms from actor_hours against 34-40 ms.
ACTORS_REACHED = f"""
WITH {funnel.UNSTORED_FROM} AS unstored_from
SELECT uniqExactIf(actor_key, carted) AS cart_actors, uniqExactIf(actor_key, viewed) AS viewing_actors
FROM (
    SELECT actor_key,
           if({{include_flagged:UInt8}} = 1, last_cart, clean_last_cart) >= {SINCE_MOMENT} AS carted,
           if({{include_flagged:UInt8}} = 1, reach_1, clean_reach_1) >= {SINCE_MOMENT} AS viewed
    FROM funnel_reach
    WHERE appspace_id = {{appspace:String}} AND {PENDING_USERS}
    UNION ALL
    SELECT actor_key, event_type = 'add_to_cart' AS carted, event_type = 'view_item' AS viewed
    FROM funnel_steps
    WHERE {SCOPE} AND event_type IN ('add_to_cart', 'view_item')
      AND event_time >= fromUnixTimestamp64Milli(toInt64(intDiv(unstored_from, 256)), 'UTC')
      AND {MOMENT} >= unstored_from
)
"""

# The refunds TOTALS counted that belong to left-out orders (scope.REFUND_OF_EXCLUDED): subtracted from its
# figures. A statement of its own, run beside the others: a subquery in TOTALS would slow the largest one.
EXCLUDED_REFUNDS = f"""
SELECT count() AS refunds, ifNull(sum(toInt128(revenue)), 0) AS amount
FROM events
WHERE {SCOPE} AND {REFUND_OF_EXCLUDED}
SETTINGS {IN_SUBQUERY_NOT_IN_PREWHERE}
"""

ITEMS_SOLD = f"""
SELECT toInt64(sum(quantity)) AS items FROM event_items WHERE {SCOPE} AND event_type = 'purchase'
"""

DAILY = f"""
SELECT toString(toDate(event_time, {{tz:String}})) AS day,
       ifNull(sum(toInt128(revenue)), 0) AS revenue_minor, count() AS order_count
FROM events
WHERE {SCOPE} AND event_type = 'purchase'
GROUP BY day
"""

TOP_PRODUCTS = f"""
SELECT item_id, argMaxIf(item_name, event_time, item_name != '') AS item_name,
       sum(toInt128(ifNull(price, 0)) * quantity - discount) AS revenue_minor,
       -- Orders are purchase events, as everywhere (METRICS.md, "Orders"): the rows the revenue comes from.
       toInt64(sum(quantity)) AS units, uniqExact(event_id) AS order_count
FROM event_items
WHERE {SCOPE} AND event_type = 'purchase'
GROUP BY item_id
ORDER BY revenue_minor DESC, item_id
LIMIT {{limit:UInt32}}
"""

# The grouping column comes from BREAKDOWNS, never from the request.
BY_COLUMN = """
SELECT if({column} = '', 'unknown', {column}) AS key, ifNull(sum(toInt128(revenue)), 0) AS revenue_minor,
       count() AS order_count
FROM events
WHERE {scope} AND event_type = 'purchase'
GROUP BY key
ORDER BY revenue_minor DESC, key
"""
BREAKDOWNS = ("device_type", "platform", "country")

BY_COUPON = f"""
SELECT coupon_code, ifNull(sum(toInt128(revenue)), 0) AS revenue_minor, count() AS order_count,
       sum(toInt128(discount)) AS discount_minor
FROM events
WHERE {SCOPE} AND event_type = 'purchase' AND coupon_code != ''
GROUP BY coupon_code
ORDER BY revenue_minor DESC, coupon_code
"""


def totals(store: Store, params: dict[str, Any], now: datetime) -> dict[str, int]:
    """The overview's figures: revenue, orders, refunds, actors, items sold and carts judged, from statements run
    side by side (cart abandonment is the heaviest)."""
    actors = actor_counts(store, params)
    totals_sql, actors_sql, items_sql = (share_of_cores(store, sql, statements=3)
                                         for sql in (TOTALS, actors, ITEMS_SOLD))
    row, actor_row, items, judged, excluded = together(lambda: store.query(totals_sql, params)[0],
                                                       lambda: store.query(actors_sql, params)[0],
                                                       lambda: store.scalar(items_sql, params),
                                                       lambda: carts.abandonment(store, params, now, with_value=False),
                                                       lambda: store.query(EXCLUDED_REFUNDS, params)[0])
    figures = {key: int(value) for key, value in (row | actor_row).items()}
    figures["refund_amount"] -= int(excluded["amount"])
    figures["refunds"] -= int(excluded["refunds"])
    return {**figures, "items": int(items or 0), **judged}


def actor_counts(store: Store, params: dict[str, Any]) -> str:
    """The statement counting the range's viewing and carting actors: the cheapest that answers it."""
    if funnel.actors_from_reach(store, params):
        return ACTORS_REACHED
    return ACTORS_BY_HOUR if in_whole_hours(params) else ACTORS


def daily(store: Store, params: dict[str, Any], tz: str, days: list[date]) -> list[tuple[str, int, int]]:
    """(ISO date, revenue, orders) for every day of the range, oldest first, zero-filled."""
    rows = store.query(DAILY, {**params, "tz": tz})
    found = {row["day"]: (int(row["revenue_minor"]), int(row["order_count"])) for row in rows}
    return [(day.isoformat(), *found.get(day.isoformat(), (0, 0))) for day in days]


def top_products(store: Store, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    return store.query(TOP_PRODUCTS, {**params, "limit": limit})


def by_column(store: Store, params: dict[str, Any], column: str) -> list[dict[str, Any]]:
    if column not in BREAKDOWNS:
        raise ValueError(f"no breakdown by {column}")
    return store.query(BY_COLUMN.format(column=column, scope=SCOPE), params)


def by_coupon(store: Store, params: dict[str, Any]) -> list[dict[str, Any]]:
    return store.query(BY_COUPON, params)
