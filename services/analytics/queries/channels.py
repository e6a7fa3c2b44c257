"""Revenue by channel. A purchase's channel is the campaign/source/medium on the purchase itself, else its
user's last touch (an event carrying campaign or utm_campaign) within 30 days before it, else direct;
conversion_rate = orders / users touched by that channel in the range x 100 (for direct: actors active in
the range without any touch). Attribution is an ASOF join in ClickHouse, not a loop in Python. Touches are
joined by user_id (DESIGN.md): an anonymous visitor's campaign cannot follow it to a purchase."""

from __future__ import annotations

from typing import Any

from carthouse.store import Store
from services.analytics.queries.scope import ACTOR, ACTOR_KEY, SCOPE
from services.analytics.queries.touches import TAGGED

DIRECT = ("(direct)", "(direct)", "(none)")
LOOKBACK_DAYS = 30


BY_CHANNEL = f"""
WITH
{TAGGED.format(lookback=LOOKBACK_DAYS)},
user_touches AS (SELECT user AS actor, at AS touched_at, campaign, source, medium FROM tagged WHERE user != ''),
own AS (SELECT event_id, campaign, source, medium FROM tagged WHERE kind = 'purchase'),
purchases AS (
    SELECT event_id, {ACTOR} AS actor, event_time AS bought_at, ifNull(revenue, 0) AS order_revenue
    FROM events
    WHERE {SCOPE} AND event_type = 'purchase'
),
attributed AS (
    SELECT purchases.order_revenue AS order_revenue,
           own.campaign != '' AS is_own,
           user_touches.actor != ''
               AND user_touches.touched_at >= purchases.bought_at - INTERVAL {LOOKBACK_DAYS} DAY
               AS is_touched,
           multiIf(is_own, own.campaign, is_touched, user_touches.campaign, '{DIRECT[0]}') AS channel_campaign,
           multiIf(is_own, own.source, is_touched, user_touches.source, '{DIRECT[1]}') AS channel_source,
           multiIf(is_own, own.medium, is_touched, user_touches.medium, '{DIRECT[2]}') AS channel_medium
    FROM purchases
    LEFT JOIN own ON purchases.event_id = own.event_id
    ASOF LEFT JOIN user_touches
        ON purchases.actor = user_touches.actor AND purchases.bought_at >= user_touches.touched_at
)
SELECT channel_campaign AS campaign, channel_source AS source, channel_medium AS medium,
       toInt64(sum(order_revenue)) AS revenue_minor, count() AS order_count
FROM attributed
GROUP BY campaign, source, medium
ORDER BY revenue_minor DESC, campaign, source, medium
SETTINGS join_use_nulls = 0
"""

# Actors a channel touched inside the range (a purchase carrying a campaign is a touch too).
TOUCHED = f"""
WITH {TAGGED.format(lookback=0)}
SELECT campaign, source, medium, uniqExact(cityHash64(user)) AS actors
FROM tagged
WHERE user != ''
GROUP BY campaign, source, medium
"""

UNTOUCHED_ACTORS = f"""
WITH {TAGGED.format(lookback=0)}
SELECT uniqExact({ACTOR_KEY}) AS actors
FROM events
WHERE {SCOPE} AND {ACTOR} != '' AND user_id NOT IN (SELECT user FROM tagged WHERE user != '')
"""


def by_channel(store: Store, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows with campaign, source, medium, revenue (minor units), orders and the actors the channel touched."""
    # Sequential on purpose: side by side measured no faster (each statement already uses both vCPUs), and the
    # direct channel's actor count is only needed when a purchase was direct.
    touched = {(r["campaign"], r["source"], r["medium"]): int(r["actors"]) for r in store.query(TOUCHED, params)}
    rows = store.query(BY_CHANNEL, params)
    if any((r["campaign"], r["source"], r["medium"]) == DIRECT for r in rows):
        touched[DIRECT] = int(store.scalar(UNTOUCHED_ACTORS, params) or 0)
    for row in rows:
        row["touched_actors"] = touched.get((row["campaign"], row["source"], row["medium"]), 0)
    return rows
