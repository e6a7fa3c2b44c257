"""Multi-touch attribution in ClickHouse: every purchase (with a user_id) with its user's touches within the
window before it (array functions over each purchase's sorted touches, which the last-touch worker stores with
the purchase), each touch weighted by the model, credits summed per channel.

Models: last_click (the last touch gets it all), linear (equal split across the distinct channels touched),
time_decay (weight 2^(-age / 7 days) per touch), position_based (our addition: 40 % first touch, 40 % last, 20 %
split over the middle; one touch gets everything, two split 50/50). A channel touched several times gets the
sum of its touches' weights. Money stays exact: every weight is an integer numerator, each touch is credited
the whole minor units of revenue x weight / total, and the order's last touch also the minor units those floors
leave over, so the credits of an order add up to its revenue exactly.
"""

from __future__ import annotations

from typing import Any

from carthouse.store import Store
from services.analytics.last_touches import ATTRIBUTION_LOOKBACK_MS, packed_touch
from services.analytics.queries.channels import pending_buyers
from services.analytics.queries.concurrent import together
from services.analytics.queries.scope import IN_SUBQUERY_NOT_IN_PREWHERE, JOINS_AS_WRITTEN, MOMENT, SCOPE
from services.analytics.queries.touches import CHANNEL_NAMES, TAGGED

MODELS = ("last_click", "linear", "time_decay", "position_based")
WINDOWS = (7, 14, 30, 60, 90)
HALF_LIFE_MS = 7 * 24 * 3600 * 1000
# time_decay's weights 2^(-age / 7 days) as integers: scaled by 10^12 (an order of up to 10^16 minor units times
# 90 days of touches stays far inside Int128).
DECAY_SCALE = 10**12

# Purchases of users the last-touch worker has reached, each with the touches it stored for it (purchase_channels,
# migration 0021: every touch of its user in the 90 days before it, newest first, packed as (moment << 64) |
# channel key by last_touches.packed_touch; with and without flagged ones). A purchase may have several rows until
# merges fold them, its fields repeated on each; a later row's touches hold every touch of an earlier one, so its
# touches are those of its longest row. Rows without a touch (the view's, purchases without a user_id, which no
# writer of touches takes, and those whose user had none) are left out before grouping: a purchase without touches
# gets no credit; user_id is read only while buyers are pending. Picking the longest array by its length
# instead of max() over the arrays (which compares them as generic values) and grouping only rows with touches: a
# year on 10 M events 122 -> 108 ms, 30 days 51 -> 41 (medians, the four models, flagged in and out); grouped by
# event_id alone (a purchase's rows share its time) 134 -> 124 and 62 -> 56 in a slower phase, without reading
# user_id 119 -> 111 and 49 -> 47; the longest found in the group's one array of rows' touches, the stored part
# alone on one thread 132 -> 99 ms. Reading them costs what the purchases in the range cost, where grouping every
# buyer's touches on each call cost a third more on a year (docs/PERFORMANCE.md). Users and channels travel as
# 64-bit keys (as scope.ACTOR_KEY explains); CHANNEL_NAMES turns channel keys back into text.
_CHOSEN = "if({include_flagged:UInt8} = 1, touches, clean_touches)"
_STORED = f"""
    SELECT toUInt64(toUnixTimestamp64Milli(any(event_time))) * 256 + any(seq) AS bought, any(revenue) AS order_revenue,
           arrayReverse(arrayElement(groupArray({_CHOSEN}) AS rows_touches,
                                     indexOf(arrayMap(t -> length(t), rows_touches),
                                             arrayMax(t -> length(t), rows_touches)))) AS ts
    FROM purchase_channels
    WHERE {SCOPE} AND notEmpty({_CHOSEN})
      AND (empty({{pending_round:Array(String)}}) OR user_id NOT IN {{pending_round:Array(String)}})
    GROUP BY event_id"""
# The same for purchases of users the worker has not reached yet (marked in attribution_dirty after its mark, bound
# as `pending_round` and their 64-bit keys as `pending_keys`; under steady ingest the buyers of the last ~10-15 s),
# from their touches: each such buyer's touches as one array of packed touches, sorted (a plain sort of numbers
# costs a third of sorting tuples by a key), then joined to the buyer's purchases.
_PENDING = f"""
pending_purchases AS (
    SELECT user_id, {MOMENT} AS bought, ifNull(revenue, 0) AS order_revenue
    FROM events
    WHERE {SCOPE} AND event_type = 'purchase' AND user_id IN {{pending_round:Array(String)}}
),
pending_touches AS (
    SELECT user_key, arraySort(groupArray({packed_touch("event_time")})) AS ts
    FROM tagged
    WHERE user_key IN {{pending_keys:Array(UInt64)}}
    GROUP BY user_key
),
bought_touches AS ({_STORED}
    UNION ALL
    SELECT pending_purchases.bought, pending_purchases.order_revenue, pending_touches.ts
    FROM pending_purchases
    INNER JOIN pending_touches ON cityHash64(pending_purchases.user_id) = pending_touches.user_key
)"""
_CREDITS = """
-- Per purchase: its touches in the window (a touch exactly `window` days old counts, as in revenue-by-channel; one
-- at the purchase's time counts if it was sent before it or is the purchase itself) and each touch's integer
-- weight; then a row per touch with its credit in whole minor units: the floor of revenue x weight / total, the
-- purchase's last touch also getting the minor units the floors leave over, so an order's credits add up to its
-- revenue exactly.
per_purchase AS (
    SELECT order_revenue,
           {window_ts} AS window_ts,
           length(window_ts) AS n,
           arrayMap(x -> toUInt64(bitAnd(x, 0xFFFFFFFFFFFFFFFF)), window_ts) AS touch_channels,
           {touch_weights} AS weights,
           arraySum(weights) AS total_weight,
           arrayMap(w -> toInt64(intDiv(toInt128(order_revenue) * w, total_weight)), weights) AS floors
    FROM bought_touches
    WHERE n > 0
),
credits AS (
    SELECT channel_key, floor_credit + if(position = n, order_revenue - arraySum(floors), 0)
               AS credit, weight / total_weight AS order_share, position
    FROM per_purchase
    ARRAY JOIN touch_channels AS channel_key, weights AS weight, floors AS floor_credit,
               arrayEnumerate(window_ts) AS position
)"""

# Each touch's weight (an integer numerator; a channel's share is the sum of its touches' weights over all).
TOUCH_WEIGHTS = {
    "last_click": "arrayMap(i -> toUInt64(i = n), arrayEnumerate(window_ts))",
    # 1 on each channel's first touch in the window: every touched channel weighs the same, however often touched.
    "linear": "arrayMap((c, i) -> toUInt64(indexOf(touch_channels, c) = i), touch_channels, "
              "arrayEnumerate(touch_channels))",
    # The age in whole milliseconds (a packed touch's bits from 72 up are its time in ms).
    "time_decay": f"arrayMap(x -> toUInt64(round(pow(2, -(intDiv(bought, 256) - bitShiftRight(x, 72)) / "
                  f"{HALF_LIFE_MS}) * {DECAY_SCALE})), window_ts)",
    # 40 : 40 : 20 / (n - 2) is 2 (n - 2) : 2 (n - 2) : 1 per middle touch.
    "position_based": "arrayMap(i -> toUInt64(multiIf(n <= 2, 1, i = 1 OR i = n, 2 * (n - 2), 1)), "
                      "arrayEnumerate(window_ts))",
}


ALL_PURCHASES = f"""
SELECT count() AS orders, ifNull(sum(toInt128(revenue)), 0) AS revenue_minor
FROM events WHERE {SCOPE} AND event_type = 'purchase'
"""


# A purchase's touches in the window: those of its touches (packed as (moment << 64) | channel key) from `window`
# days before its millisecond up to its own moment.
IN_WINDOW = ("arrayFilter(x -> x >= bitShiftLeft(toUInt128((intDiv(bought, 256) - {window_ms}) * 256), 64) "
             "AND x < bitShiftLeft(toUInt128(bought + 1), 64), ts)")


def _with(model: str, window: int, pending: bool) -> str:
    """The statement's CTEs: purchases with their touches (stored; from touches for ``pending`` buyers), each
    purchase's credits, channel names."""
    sources = (TAGGED.format(lookback=window) + ",\n" + _PENDING) if pending else f"bought_touches AS ({_STORED}\n)"
    window_ms = window * 24 * 3600 * 1000
    # The stored touches are those of the longest window, by the same rule (last_touches.touches_in_lookback): for
    # it, a purchase's stored touches are its touches in the window (a year on 10 M events, one thread, -15 ms).
    whole = not pending and window_ms == ATTRIBUTION_LOOKBACK_MS
    credits = _CREDITS.format(window_ts="ts" if whole else IN_WINDOW.format(window_ms=window_ms),
                              touch_weights=TOUCH_WEIGHTS[model])
    return "WITH\n" + sources + "," + credits + "," + CHANNEL_NAMES


def attribution(store: Store, params: dict[str, Any], model: str, window: int) -> dict[str, Any]:
    """Per channel: credited revenue (whole minor units) and orders (shares of orders); totals of all purchases
    in the range and of the attributed ones."""
    if model not in MODELS or window not in WINDOWS:
        raise ValueError(f"model {model!r} / window {window!r}")
    # One pass over purchases x channels: channel credits, and the exact totals of attributed orders (each
    # attributed purchase has exactly one first channel), summed over channels by a window; beside it, the totals
    # of all purchases in the range.
    pending = pending_buyers(store, params)
    credited_sql = _with(model, window, bool(pending["pending_round"])) + f"""
SELECT name_campaign AS campaign, name_source AS source, name_medium AS medium, credited.* FROM (
    SELECT *, sum(revenue_minor) OVER () AS attributed_revenue, sum(first_channel_orders) OVER () AS attributed_orders
    FROM (
        SELECT channel_key, sum(toInt128(credit)) AS revenue_minor, sum(order_share) AS order_credit,
               countIf(position = 1) AS first_channel_orders
        FROM credits
        GROUP BY channel_key
    )
) AS credited INNER JOIN names ON names.name_key = credited.channel_key
WHERE order_credit > 0
ORDER BY revenue_minor DESC, campaign, source, medium
SETTINGS {JOINS_AS_WRITTEN}, {IN_SUBQUERY_NOT_IN_PREWHERE}
"""
    rows, everything = together(lambda: store.query(credited_sql, {**params, **pending}),
                                lambda: store.query(ALL_PURCHASES, params)[0])
    channels = [{k: row[k] for k in ("campaign", "source", "medium", "revenue_minor", "order_credit")}
                for row in rows]
    attributed = {"orders": int(rows[0]["attributed_orders"]) if rows else 0,
                  "revenue_minor": int(rows[0]["attributed_revenue"]) if rows else 0}
    return {"channels": channels, "attributed": attributed, "all": everything}
