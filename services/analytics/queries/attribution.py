"""Multi-touch attribution in ClickHouse: every purchase (with a user_id) joined to its user's touches within
the window before it (array functions over each buyer's sorted touches), each touch weighted by the model,
credits summed per channel.

Models: last_click (the last touch gets it all), linear (equal split), time_decay (weight 2^(-age / 7 days),
normalised), position_based (our addition: 40 % first, 40 % last, 20 % split over the middle; one touch gets
everything, two split 50/50). Ties in touch time are ordered by event id.
"""

from __future__ import annotations

from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import IN_SUBQUERY_NOT_IN_PREWHERE, JOINS_AS_WRITTEN, SCOPE
from services.analytics.queries.touches import CHANNEL_NAMES, TAGGED

MODELS = ("last_click", "linear", "time_decay", "position_based")
WINDOWS = (7, 14, 30, 60, 90)
HALF_LIFE_MS = 7 * 24 * 3600 * 1000

_CREDITS = """
purchases AS (
    SELECT event_id AS purchase_id, user_id, event_time AS bought_at, ifNull(revenue, 0) AS order_revenue
    FROM events
    WHERE {scope} AND event_type = 'purchase' AND user_id != ''
),
-- Each buyer's touches as one array sorted by time (ties by event id) of (time, channel key): the join then
-- pairs ~one row per purchase with a compact array, instead of a row per (purchase, touch) with three strings
-- that window functions must sort again. Users and channels travel as 64-bit keys (as scope.ACTOR_KEY
-- explains); CHANNEL_NAMES turns channel keys back into text.
user_touches AS (
    SELECT user_key,
           arrayMap(x -> (x.1, x.3), arraySort(x -> (x.1, x.2), groupArray((at, event_id, channel_key)))) AS ts
    FROM tagged
    WHERE user_key IN (SELECT cityHash64(user_id) FROM purchases)
    GROUP BY user_key
),
per_purchase AS (
    SELECT purchases.purchase_id AS purchase_id, purchases.order_revenue AS order_revenue,
           arrayFilter(x -> x.1 <= purchases.bought_at AND x.1 > purchases.bought_at - INTERVAL {window} DAY,
                       user_touches.ts) AS window_ts,
           arrayMap(x -> pow(2, -dateDiff('millisecond', x.1, purchases.bought_at) / {half_life}), window_ts)
               AS decays
    FROM purchases INNER JOIN user_touches ON cityHash64(purchases.user_id) = user_touches.user_key
),
credits AS (
    SELECT purchase_id, order_revenue, touch.2 AS channel_key,
           length(window_ts) AS touches, position, decays[position] / arraySum(decays) AS decay_share
    FROM per_purchase ARRAY JOIN window_ts AS touch, arrayEnumerate(window_ts) AS position
)"""

WEIGHT = {
    "last_click": "if(position = touches, 1.0, 0.0)",
    "linear": "1.0 / touches",
    "time_decay": "decay_share",
    "position_based": "multiIf(touches = 1, 1.0, touches = 2, 0.5, position = 1 OR position = touches, 0.4, "
                      "0.2 / (touches - 2))",
}


def _with(window: int) -> str:
    return "WITH\n" + TAGGED.format(lookback=window) + ",\n" + _CREDITS.format(
        scope=SCOPE, half_life=HALF_LIFE_MS, window=window) + "," + CHANNEL_NAMES


def attribution(store: Store, params: dict[str, Any], model: str, window: int) -> dict[str, Any]:
    """Per channel: credited revenue (minor units, fractional) and orders; totals of all purchases in the range
    and of the attributed ones."""
    if model not in MODELS or window not in WINDOWS:
        raise ValueError(f"model {model!r} / window {window!r}")
    # One pass over purchases x touches: channel credits, and (from each purchase's first touch row, which lies
    # in exactly one channel) the exact totals of attributed orders, summed over channels by a window.
    rows = store.query(_with(window) + f"""
SELECT name_campaign AS campaign, name_source AS source, name_medium AS medium, credited.* FROM (
    SELECT *, sum(first_touch_revenue) OVER () AS attributed_revenue,
              sum(first_touch_orders) OVER () AS attributed_orders
    FROM (
        SELECT channel_key, sum(order_revenue * weight) AS revenue_credit,
               sum(weight) AS order_credit, toInt64(sumIf(order_revenue, position = 1)) AS first_touch_revenue,
               countIf(position = 1) AS first_touch_orders
        FROM (SELECT *, {WEIGHT[model]} AS weight FROM credits)
        GROUP BY channel_key
    )
) AS credited INNER JOIN names ON names.name_key = credited.channel_key
WHERE order_credit > 0
ORDER BY revenue_credit DESC, campaign, source, medium
SETTINGS {JOINS_AS_WRITTEN}, {IN_SUBQUERY_NOT_IN_PREWHERE}
""", params)
    channels = [{k: row[k] for k in ("campaign", "source", "medium", "revenue_credit", "order_credit")}
                for row in rows]
    attributed = {"orders": int(rows[0]["attributed_orders"]) if rows else 0,
                  "revenue_minor": int(rows[0]["attributed_revenue"]) if rows else 0}
    everything = store.query(f"""
SELECT count() AS orders, toInt64(ifNull(sum(revenue), 0)) AS revenue_minor
FROM events WHERE {SCOPE} AND event_type = 'purchase'
""", params)[0]
    return {"channels": channels, "attributed": attributed, "all": everything}
