"""Cart abandonment in one statement. A cart is a cart_id (else the actor) with an add_to_cart in the range;
it is completed when a purchase for that cart_id or by its last actor follows its first add (until now, so a cart
bought the day after the range still counts as completed); abandoned when not completed and idle for over an
hour; the value left in it is its adds minus its removes (price x quantity, base currency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import JOINS_AS_WRITTEN, MOMENT, SCOPE

CART_EVENTS = "('add_to_cart', 'remove_from_cart')"
# The rows read are cart events and purchases.
CART_ROW = "event_type != 'purchase'"
# Purchases until now, so a cart bought after the range still counts as completed.
PURCHASES_SINCE = "event_type = 'purchase' AND event_time >= {since:DateTime64(3, 'UTC')}"

# From cart_activity (migration 0009): a narrow row per cart event and purchase, carts and actors already keyed by
# 64-bit hashes, cart events with the value of their items. A purchase carrying a cart_id has that cart's key,
# so one grouping gives each cart its moments, value, last event and last purchase; purchases by the cart's last
# actor (a cart filled anonymously and then by the logged-in user is that user's) come from one join. Moments
# (scope.MOMENT) put a cart event and a purchase sent at the same time in the order they were sent. A cart's last
# event is one number, (moment << 64) | actor key: its maximum gives the last actor and the last activity's
# milliseconds (bits 72 up) at the cost of one max, where argMax and a second max cost ~20 ms more on a year.
LAST_ACTOR = "toUInt64(bitAnd(carts.last_event, 0xFFFFFFFFFFFFFFFF))"
LAST_ACTIVITY_MS = "bitShiftRight(carts.last_event, 72)"
# The value left in carts is one aggregate of the four per cart (a 128-bit sum), ~10 % of the statement on a year:
# the overview, which shows the abandonment rate alone, asks for the counts without it.
_VALUE = f"sumIf(toInt128(if(event_type = 'add_to_cart', items_value, -items_value)), {CART_ROW}) AS value,"
_LEFT_VALUE = ", greatest(carts.value, 0) AS left_value"
_ABANDONED_VALUE = ", sumIf(left_value, NOT is_completed AND is_idle) AS abandoned_value"


def _judged(with_value: bool) -> str:
    return f"""
WITH
carts AS (
    SELECT cart_key, maxIf(bitOr(bitShiftLeft(toUInt128({MOMENT}), 64), actor_key), {CART_ROW}) AS last_event,
           minIf({MOMENT}, {CART_ROW}) AS first_add,
           {_VALUE if with_value else ""}
           maxIf({MOMENT}, event_type = 'purchase') AS bought_by_cart
    FROM cart_activity
    WHERE appspace_id = {{appspace:String}}
      AND (({SCOPE} AND event_type IN {CART_EVENTS}) OR ({PURCHASES_SINCE} AND cart_key != 0))
    GROUP BY cart_key
    HAVING countIf(event_type = 'add_to_cart') > 0
),
bought_by_actor AS (
    SELECT actor_key, max({MOMENT}) AS last_purchase
    FROM cart_activity
    WHERE appspace_id = {{appspace:String}} AND {PURCHASES_SINCE} AND actor_key != 0
    GROUP BY actor_key
),
judged AS (
    SELECT greatest(carts.bought_by_cart, bought_by_actor.last_purchase) >= carts.first_add AS is_completed,
           {LAST_ACTIVITY_MS} < toUnixTimestamp64Milli({{now:DateTime64(3, 'UTC')}}) - 3600000 AS is_idle
           {_LEFT_VALUE if with_value else ""}
    FROM carts
    LEFT JOIN bought_by_actor ON {LAST_ACTOR} = bought_by_actor.actor_key
)
SELECT countIf(is_completed) AS completed_carts, countIf(NOT is_completed AND is_idle) AS abandoned_carts
       {_ABANDONED_VALUE if with_value else ""}
FROM judged
SETTINGS join_use_nulls = 0, {JOINS_AS_WRITTEN}
"""


ABANDONMENT = _judged(with_value=True)
JUDGED_COUNTS = _judged(with_value=False)


def abandonment(store: Store, params: dict[str, Any], now: datetime, with_value: bool = True) -> dict[str, int]:
    """Completed and abandoned carts, and (``with_value``) the value left in the abandoned ones in minor units."""
    row = store.query(ABANDONMENT if with_value else JUDGED_COUNTS, {**params, "now": now})[0]
    return {key: int(value) for key, value in row.items()}
