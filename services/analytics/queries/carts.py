"""Cart abandonment in one statement. A cart is a cart_id (else the actor) with an add_to_cart in the range;
it is completed when a purchase for that cart_id or by its last actor follows its first add (until now, so a cart
bought the day after the range still counts as completed); abandoned when not completed and idle for over an
hour; the value left in it is its adds minus its removes (price x quantity, base currency)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import JOINS_AS_WRITTEN, MOMENT, SCOPE, SINCE_MOMENT

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
# A cart is idle when its last cart event is over an hour before the call.
_NOW_MS = "toUnixTimestamp64Milli({now:DateTime64(3, 'UTC')})"
IDLE_MS = 3_600_000


def _raw(with_value: bool, only: str = "", only_actors: str = "") -> str:
    """The judgement from cart_activity; ``only``: a condition that picks the rows of the carts judged,
    ``only_actors``: one that picks the purchases of their actors."""
    return f"""
WITH
carts AS (
    SELECT cart_key, maxIf(bitOr(bitShiftLeft(toUInt128({MOMENT}), 64), actor_key), {CART_ROW}) AS last_event,
           minIf({MOMENT}, {CART_ROW}) AS first_add,
           {_VALUE if with_value else ""}
           maxIf({MOMENT}, event_type = 'purchase') AS bought_by_cart
    FROM cart_activity
    WHERE appspace_id = {{appspace:String}}
      AND (({SCOPE} AND event_type IN {CART_EVENTS}) OR ({PURCHASES_SINCE} AND cart_key != 0)) {only}
    GROUP BY cart_key
    HAVING countIf(event_type = 'add_to_cart') > 0
),
bought_by_actor AS (
    SELECT actor_key, max({MOMENT}) AS last_purchase
    FROM cart_activity
    WHERE appspace_id = {{appspace:String}} AND {PURCHASES_SINCE} AND actor_key != 0 {only_actors}
    GROUP BY actor_key
),
judged AS (
    SELECT greatest(carts.bought_by_cart, bought_by_actor.last_purchase) >= carts.first_add AS is_completed,
           {LAST_ACTIVITY_MS} < {_NOW_MS} - {IDLE_MS} AS is_idle
           {_LEFT_VALUE if with_value else ""}
    FROM carts
    LEFT JOIN bought_by_actor ON {LAST_ACTOR} = bought_by_actor.actor_key
)
SELECT toInt64(countIf(is_completed)) AS completed_carts,
       toInt64(countIf(NOT is_completed AND is_idle)) AS abandoned_carts
       {_ABANDONED_VALUE if with_value else ""}
FROM judged
"""


_SETTINGS = f"SETTINGS join_use_nulls = 0, {JOINS_AS_WRITTEN}"
ABANDONMENT = _raw(with_value=True) + _SETTINGS
JUDGED_COUNTS = _raw(with_value=False) + _SETTINGS

# Judged carts (services/analytics/cart_states.py) answer a range that no stored cart event passes beyond (every
# range ending today) once the worker has judged every cart. A cart is judged from raw events when the worker
# has not judged its newest rows (marked after its mark) or when it has cart events before and after the range's
# start; every other cart with an add in the range is a row of cart_states whose first moment is in the range,
# completed also when its last actor's latest purchase, if the actor bought after the mark, is at or after its
# first moment. The first statement names the raw-judged carts and the earliest moment of their cart events (their
# raw events are read from there on), and the buyers after the mark with their latest purchases. A user whose
# deletion is pending sends every call to the raw events (the rows do not say which carts hold the user's events).
DONE_UNTIL = "(SELECT max(done_until) FROM cart_progress)"
_CLEAN = "clean = 1 - {include_flagged:UInt8}"
_UNSTORED = "cart_dirty WHERE appspace_id = {appspace:String} AND inserted_at > done_until"
RAW_CARTS = f"""
WITH {DONE_UNTIL} AS done_until
SELECT (SELECT count() FROM cart_progress) > 0
       AND (SELECT count() FROM cart_activity
            WHERE appspace_id = {{appspace:String}} AND event_type IN {CART_EVENTS}
              AND event_time >= {{until:DateTime64(3, 'UTC')}}) = 0 AS answers,
       groupUniqArray(cart_key) AS carts, min(first_moment) AS first_moment,
       (SELECT (groupArray(actor_key), groupArray(latest)) FROM (
            SELECT actor_key, max({MOMENT}) AS latest FROM cart_activity
            WHERE appspace_id = {{appspace:String}} AND event_type = 'purchase'
              AND actor_key IN (SELECT actor_key FROM {_UNSTORED} AND bought = 1)
            GROUP BY actor_key)) AS buyers
FROM (
    SELECT cart_key, first_moment FROM {_UNSTORED}
    UNION ALL
    SELECT cart_key, first_moment FROM cart_states
    WHERE appspace_id = {{appspace:String}} AND {_CLEAN}
      AND ((first_moment < {SINCE_MOMENT} AND last_moment >= {SINCE_MOMENT})
           OR cart_key IN (SELECT cart_key FROM {_UNSTORED}))
)
"""
# A judged cart's completion at the call (``buyers``, ``bought``: the buyers after the mark and their latest
# purchases; a cart event always has an actor, so the key 0 stands for none).
_COMPLETED = ("(completed OR transform(last_actor, {buyers:Array(UInt64)}, {bought:Array(UInt64)}, toUInt64(0))"
              " >= first_moment)")
_STORED_IDLE = f"intDiv(last_moment, 256) < {_NOW_MS} - {IDLE_MS}"
_RAW_FROM = "event_time >= {raw_from:DateTime64(3, 'UTC')}"


def _stored(with_value: bool, raw: bool) -> str:
    """Sums over the judged carts (the judged rows of a changed cart cancel out: cart_states.py); ``raw``: with
    the carts named by ``raw`` judged from their raw events from ``raw_from`` on."""
    value = (f", sum(sign * if(NOT completed_now AND {_STORED_IDLE}, left_value, toInt128(0))) AS abandoned_value"
             if with_value else "")
    stored = f"""
    SELECT toInt64(sum(sign * ({_COMPLETED} AS completed_now))) AS completed_carts,
           toInt64(sum(sign * (NOT completed_now AND {_STORED_IDLE}))) AS abandoned_carts {value}
    FROM cart_states
    WHERE appspace_id = {{appspace:String}} AND {_CLEAN} AND first_moment >= {SINCE_MOMENT} AND has_add = 1
      {"AND cart_key NOT IN {raw:Array(UInt64)}" if raw else ""}"""
    if not raw:
        return stored
    judged_raw = _raw(with_value, only=f"AND cart_key IN {{raw:Array(UInt64)}} AND {_RAW_FROM}",
                      only_actors=f"""AND {_RAW_FROM} AND actor_key IN (
        SELECT actor_key FROM cart_activity
        WHERE appspace_id = {{appspace:String}} AND event_type IN {CART_EVENTS} AND {_RAW_FROM}
          AND cart_key IN {{raw:Array(UInt64)}})""")
    return f"""
SELECT sum(completed_carts) AS completed_carts, sum(abandoned_carts) AS abandoned_carts
       {", sum(abandoned_value) AS abandoned_value" if with_value else ""}
FROM ({stored} UNION ALL {judged_raw})
{_SETTINGS}
"""


STORED = {(with_value, raw): _stored(with_value, raw) for with_value in (False, True) for raw in (False, True)}


# Ranges up to a month read raw events: judged carts answer them no faster (10 M events over a year: 30 days 25-35
# ms either way, 7 days 29-31 ms against 18-21, 90 days 38-40 against 57; docs/PERFORMANCE.md).
STATES_AFTER = timedelta(days=31)


def abandonment(store: Store, params: dict[str, Any], now: datetime, with_value: bool = True) -> dict[str, int]:
    """Completed and abandoned carts, and (``with_value``) the value left in the abandoned ones in minor units."""
    params = {**params, "now": now}
    long_range = params["until"] - params["since"] > STATES_AFTER
    row = (_from_states(store, params, with_value)
           if long_range and not store.cluster and not params["pending"] else None)
    if row is None:
        row = store.query(ABANDONMENT if with_value else JUDGED_COUNTS, params)[0]
    return {key: int(value) for key, value in row.items()}


def _from_states(store: Store, params: dict[str, Any], with_value: bool) -> dict[str, Any] | None:
    """The answer from judged carts, None where they do not answer the range."""
    raw = store.query(RAW_CARTS, params)[0]
    if not raw["answers"]:
        return None
    buyers, bought = raw["buyers"]
    params = {**params, "buyers": buyers or [0], "bought": bought or [0]}
    if not raw["carts"]:
        return store.query(STORED[with_value, False], params)[0]
    first_ms = int(raw["first_moment"]) // 256
    first = datetime.fromtimestamp(first_ms // 1000, UTC) + timedelta(milliseconds=first_ms % 1000)
    raw_from = max(params["since"], first)
    return store.query(STORED[with_value, True], {**params, "raw": raw["carts"], "raw_from": raw_from})[0]
