"""Revenue by channel. A purchase's channel is the campaign/source/medium on the purchase itself, else its
actor's last touch (an event carrying campaign or utm_campaign) within 30 days before it, else direct;
conversion_rate = orders / actors touched by that channel in the range x 100 (for direct: actors active in
the range without any touch). Attribution is an ASOF join in ClickHouse, not a loop in Python."""

from __future__ import annotations

from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import ACTOR, SCOPE

DIRECT = ("(direct)", "(direct)", "(none)")
LOOKBACK_DAYS = 30


def _property(name: str) -> str:
    return f"if(properties['{name}'] != '', properties['{name}'], properties['utm_{name}'])"


CAMPAIGN, SOURCE, MEDIUM = _property("campaign"), _property("source"), _property("medium")

BY_CHANNEL = f"""
WITH
touches AS (
    SELECT {ACTOR} AS actor, event_time AS touched_at, {CAMPAIGN} AS campaign, {SOURCE} AS source,
           {MEDIUM} AS medium
    FROM events
    WHERE appspace_id = {{appspace:String}}
      AND event_time >= {{since:DateTime64(3, 'UTC')}} - INTERVAL {LOOKBACK_DAYS} DAY
      AND event_time < {{until:DateTime64(3, 'UTC')}}
      AND {CAMPAIGN} != '' AND actor != ''
),
purchases AS (
    SELECT {ACTOR} AS actor, event_time AS bought_at, ifNull(revenue, 0) AS revenue, {CAMPAIGN} AS own_campaign,
           {SOURCE} AS own_source, {MEDIUM} AS own_medium
    FROM events
    WHERE {SCOPE} AND event_type = 'purchase'
),
attributed AS (
    SELECT purchases.revenue AS order_revenue,
           purchases.own_campaign != '' AS own,
           touches.actor != '' AND touches.touched_at >= purchases.bought_at - INTERVAL {LOOKBACK_DAYS} DAY AS touched,
           multiIf(own, purchases.own_campaign, touched, touches.campaign, '{DIRECT[0]}') AS channel_campaign,
           multiIf(own, purchases.own_source, touched, touches.source, '{DIRECT[1]}') AS channel_source,
           multiIf(own, purchases.own_medium, touched, touches.medium, '{DIRECT[2]}') AS channel_medium
    FROM purchases
    ASOF LEFT JOIN touches ON purchases.actor = touches.actor AND purchases.bought_at >= touches.touched_at
)
SELECT channel_campaign AS campaign, channel_source AS source, channel_medium AS medium,
       toInt64(sum(order_revenue)) AS revenue_minor, count() AS order_count
FROM attributed
GROUP BY campaign, source, medium
ORDER BY revenue_minor DESC, campaign, source, medium
SETTINGS join_use_nulls = 0
"""

TOUCHED = f"""
SELECT {CAMPAIGN} AS campaign, {SOURCE} AS source, {MEDIUM} AS medium, uniqExact({ACTOR}) AS actors
FROM events
WHERE {SCOPE} AND {CAMPAIGN} != ''
GROUP BY campaign, source, medium
"""

UNTOUCHED_ACTORS = f"""
SELECT uniqExactIf(actor, touches = 0) AS actors
FROM (
    SELECT {ACTOR} AS actor, countIf({CAMPAIGN} != '') AS touches
    FROM events
    WHERE {SCOPE}
    GROUP BY actor
    HAVING actor != ''
)
"""


def by_channel(store: Store, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows with campaign, source, medium, revenue (minor units), orders and the actors the channel touched."""
    touched = {(r["campaign"], r["source"], r["medium"]): int(r["actors"]) for r in store.query(TOUCHED, params)}
    rows = store.query(BY_CHANNEL, params)
    if any((r["campaign"], r["source"], r["medium"]) == DIRECT for r in rows):
        touched[DIRECT] = int(store.scalar(UNTOUCHED_ACTORS, params) or 0)
    for row in rows:
        row["touched_actors"] = touched.get((row["campaign"], row["source"], row["medium"]), 0)
    return rows
