"""Revenue queries on events / event_items: the overview's totals, the daily series, top products and the
breakdowns by device, platform, country and coupon. Amounts come back as exact minor units."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from carthouse.store import Store
from services.analytics.queries import carts
from services.analytics.queries.concurrent import share_of_cores, together
from services.analytics.queries.scope import (
    ACTOR_KEY,
    HAS_ACTOR,
    IN_SUBQUERY_NOT_IN_PREWHERE,
    PENDING_USERS,
    REFUND_OF_EXCLUDED,
    SCOPE,
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

# The same from actor_last (migration 0023), a row per actor with its last view and add to cart, when no stored
# view or add lies at or after the range's end (every range ending today): an actor did it in the range exactly
# when its last one is at or after the range's start. ACTORS_LAST_ANSWER checks that end on actor_hours' hours
# (an hour holding the end answers no, and the statements above count).
ACTORS_LAST = f"""
SELECT uniqExactIf(actor_key, last_cart >= {{since:DateTime64(3, 'UTC')}}) AS cart_actors,
       uniqExactIf(actor_key, last_view >= {{since:DateTime64(3, 'UTC')}}) AS viewing_actors
FROM actor_last
WHERE appspace_id = {{appspace:String}} AND (flagged = 0 OR {{include_flagged:UInt8}} = 1) AND {PENDING_USERS}
"""
ACTORS_LAST_ANSWER = f"""
SELECT count() = 0 FROM actor_hours
WHERE appspace_id = {{appspace:String}} AND hour >= toStartOfHour({{until:DateTime64(3, 'UTC')}})
  AND bitAnd(did, {(1 << VIEW_BIT) | (1 << CART_BIT)}) != 0
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
    if store.scalar(ACTORS_LAST_ANSWER, params):
        return ACTORS_LAST
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
