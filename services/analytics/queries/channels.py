"""Revenue by channel. A purchase's channel is the campaign/source/medium on the purchase itself, else its
user's last touch (an event carrying campaign or utm_campaign) within 30 days before it, else direct;
conversion_rate = orders / users touched by that channel in the range x 100 (for direct: actors active in
the range without any touch). Each purchase's last touch is stored by a background worker (last_touches.py) and
the statement groups purchases by channel; purchases of users the worker has not reached yet are attributed from
their touches with array functions in the same statement. No loop in Python. Touches are joined by user_id
(DESIGN.md): an anonymous visitor's campaign cannot follow it to a purchase."""

from __future__ import annotations

from typing import Any

from carthouse.store import Store
from services.analytics.last_touches import DONE_UNTIL, LOOKBACK_MS, last_in_lookback, packed_touch
from services.analytics.queries import funnel
from services.analytics.queries.concurrent import share_of_cores, together
from services.analytics.queries.scope import (
    ACTOR_KEY,
    HAS_ACTOR,
    MOMENT,
    PENDING_USERS,
    SCOPE,
    SINCE_MOMENT,
    in_whole_hours,
)
from services.analytics.queries.touches import CHANNEL_NAMES, HAS_USER, TAGGED

DIRECT = ("(direct)", "(direct)", "(none)")
# The direct channel's key in the attribution statement (no channel hashes to 0).
DIRECT_KEY = 0
LOOKBACK_DAYS = LOOKBACK_MS // (24 * 3600 * 1000)


# Each purchase in the range with its channel: its own, else its user's last touch in the lookback, else direct.
# Last touches come from purchase_channels (services/analytics/last_touches.py), packed as (time in ms << 72) |
# (seq << 64) | channel key, so the channel key is the low 64 bits (0, DIRECT_KEY, without a touch); a purchase may
# have several rows until merges fold them, its fields repeated on each and its last touch their max(). They are
# read with FINAL, which folds them as a merge would (the sort key holds the purchase's time and id), merging sorted
# streams where grouping by event_id built a hash table of every purchase: on a year of 10 M events, one thread,
# 68-81 -> 22 ms with the table merged, 71 -> 50 ms with the last two days' purchases in four parts of their own.
_BY_KEY = f"""
by_key AS (
    SELECT if(own != 0, own, toUInt64(bitAnd(touch, 0xFFFFFFFFFFFFFFFF))) AS channel_key,
           sum(toInt128(order_revenue)) AS revenue_minor, count() AS order_count
    FROM attributed
    GROUP BY channel_key
),
{CHANNEL_NAMES}
SELECT channel_key, if(channel_key = {DIRECT_KEY}, '{DIRECT[0]}', name_campaign) AS campaign,
       if(channel_key = {DIRECT_KEY}, '{DIRECT[1]}', name_source) AS source,
       if(channel_key = {DIRECT_KEY}, '{DIRECT[2]}', name_medium) AS medium, revenue_minor, order_count
FROM by_key LEFT JOIN names ON by_key.channel_key = names.name_key
ORDER BY revenue_minor DESC, campaign, source, medium
"""
_STORED_TOUCH = "if({include_flagged:UInt8} = 1, last_touch, last_clean_touch)"
BY_CHANNEL = f"""
WITH
attributed AS (
    SELECT revenue AS order_revenue, own_channel AS own, {_STORED_TOUCH} AS touch
    FROM purchase_channels FINAL
    WHERE {SCOPE}
),
{_BY_KEY}"""
# The same while the background worker has not reached some buyers (marked in attribution_dirty after its mark,
# bound as `pending_round` and their 64-bit keys as `pending_keys`): their purchases are attributed here from
# their touches, as the statement did for every buyer before it had stored last touches, each such buyer's
# touches as one array of packed touches. Under steady ingest the pending users are those of the last ~10-15 s;
# with 3,000 of them the statement costs what it cost for every call before (~100 ms of CPU on 10 M events).
BY_CHANNEL_PENDING = f"""
WITH
{TAGGED.format(lookback=LOOKBACK_DAYS)},
purchases AS (
    SELECT revenue AS order_revenue, own_channel AS own, user_id AS buyer, event_time AS bought_at,
           seq AS bought_seq, {_STORED_TOUCH} AS stored
    FROM purchase_channels FINAL
    WHERE {SCOPE}
),
pending_touches AS (
    SELECT user AS buyer, groupArray({packed_touch("at")}) AS touches
    FROM tagged
    WHERE user_key IN {{pending_keys:Array(UInt64)}}
    GROUP BY buyer
),
attributed AS (
    SELECT order_revenue, own,
           if(buyer IN {{pending_round:Array(String)}},
              {last_in_lookback("pending_touches.touches", "bought_at", "bought_seq")}, stored) AS touch
    FROM purchases LEFT JOIN pending_touches ON purchases.buyer = pending_touches.buyer
),
{_BY_KEY}"""
PENDING_ROUND = f"""
SELECT DISTINCT user_id, cityHash64(user_id) AS user_key FROM attribution_dirty
WHERE appspace_id = {{appspace:String}} AND inserted_at > {DONE_UNTIL}
"""


def pending_buyers(store: Store, params: dict[str, Any]) -> dict[str, list[Any]]:
    """The users the last-touch worker has not reached yet (`pending_round`) and their 64-bit keys
    (`pending_keys`), as the statements that read purchase_channels bind them."""
    pending = store.query(PENDING_ROUND, params)
    return {"pending_round": [row["user_id"] for row in pending],
            "pending_keys": [int(row["user_key"]) for row in pending]}


def attributed_channels(store: Store, params: dict[str, Any], statements: int) -> list[dict[str, Any]]:
    """Revenue and orders by channel key, on its share of the cores when ``statements`` run side by side."""
    pending = pending_buyers(store, params)
    sql = BY_CHANNEL_PENDING if pending["pending_round"] else BY_CHANNEL
    return store.query(share_of_cores(store, sql, statements), {**params, **pending})


# Users each channel touched inside the range (a purchase carrying a campaign is a touch too), by channel key
# (matched to the attributed rows by key, so no names are needed here); the row with channel key 0 (the empty
# grouping set; no channel hashes to 0) counts the users any channel touched.
TOUCHED = f"""
WITH {TAGGED.format(lookback=0)}
SELECT channel_key, uniqExact(user_key) AS actors FROM tagged WHERE {HAS_USER}
GROUP BY GROUPING SETS ((channel_key), ())
"""
ANY_CHANNEL = 0

# The direct channel's denominator is the actors active in the range that no touch in it reached. A touched
# user's touch is one of its events in the range (TAGGED applies the scope's rules; an actor is its user_id when
# it has one, and both are the same 64-bit keys), so the touched users are a subset of the active actors and the
# count is active actors minus touched users: two distinct counts, no per-event lookup in the touched set.
ACTIVE_ACTORS = f"""
SELECT uniqExact({ACTOR_KEY}) AS actors FROM events WHERE {SCOPE} AND {HAS_ACTOR}
"""
# The same count from the actors of each hour (migration 0014), when the range is whole UTC hours: every range
# in a time zone whose offset is whole hours. Same scope rules: the range, flagged events, pending deletions.
ACTIVE_ACTORS_BY_HOUR = f"""
SELECT uniqExact(actor_key) AS actors FROM actor_hours
WHERE appspace_id = {{appspace:String}}
  AND hour >= {{since:DateTime64(3, 'UTC')}} AND hour < {{until:DateTime64(3, 'UTC')}}
  AND (flagged = 0 OR {{include_flagged:UInt8}} = 1)
  AND {PENDING_USERS}
"""

# The same from each actor's last event kept beside the funnel reach (migration 0024), for a range that no stored
# event passes beyond (every range ending today): an actor has an event in the range when its last one, on any row
# of it (rows merge with max()), is at or after the range's start, or when one of the events the worker has not
# reached yet is in the range. A year on 10 M events: 200 k actors' rows instead of 1.8 M actor-hours, 74 -> 23 ms
# on one thread.
ACTIVE_ACTORS_REACHED = f"""
WITH {funnel.UNSTORED_FROM} AS unstored_from
SELECT uniqExact(actor_key) AS actors
FROM (
    SELECT actor_key FROM funnel_reach
    WHERE appspace_id = {{appspace:String}} AND {PENDING_USERS}
      AND if({{include_flagged:UInt8}} = 1, last_active, clean_last_active) >= {SINCE_MOMENT}
    UNION ALL
    SELECT {ACTOR_KEY} FROM events
    WHERE {SCOPE} AND {HAS_ACTOR}
      AND event_time >= fromUnixTimestamp64Milli(toInt64(intDiv(unstored_from, 256)), 'UTC')
      AND {MOMENT} >= unstored_from
)
"""


def active_actors(store: Store, params: dict[str, Any], statements: int = 1) -> int:
    """Distinct actors in the range, from the cheapest source that answers it (the reach, whole hours or events),
    on its share of the cores when ``statements`` run side by side (this one included)."""
    if funnel.actors_from_reach(store, params):
        sql = ACTIVE_ACTORS_REACHED
    else:
        sql = ACTIVE_ACTORS_BY_HOUR if in_whole_hours(params) else ACTIVE_ACTORS
    return int(store.scalar(share_of_cores(store, sql, statements), params) or 0)


def by_channel(store: Store, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows with campaign, source, medium, revenue (minor units), orders and the actors the channel touched."""
    # Side by side: no single statement keeps both vCPUs busy all the way (12-20 % faster than in sequence on
    # 10 M events); the direct channel's count is asked for even when no purchase turns out direct. The users each
    # channel touched cost the most (a year on 10 M events: 90-100 ms of CPU on one thread, against 22-50 for the
    # purchases read with FINAL and 23 for the active actors), so it keeps all the cores and the other two take
    # one thread each (docs/PERFORMANCE.md): 3-7 % faster on a year than a thread each, the same on 30 days.
    touched_sql = share_of_cores(store, TOUCHED, statements=1)
    touched_rows, rows, active = together(lambda: store.query(touched_sql, params),
                                         lambda: attributed_channels(store, params, statements=3),
                                         lambda: active_actors(store, params, statements=3))
    touched = {int(r["channel_key"]): int(r["actors"]) for r in touched_rows if r["channel_key"] != ANY_CHANNEL}
    any_touch = sum(int(r["actors"]) for r in touched_rows if r["channel_key"] == ANY_CHANNEL)
    # Never below zero, even while a group's rows are still being written table by table (docs/RELIABILITY.md).
    touched[DIRECT_KEY] = max(0, active - any_touch)
    for row in rows:
        row["touched_actors"] = touched.get(int(row.pop("channel_key")), 0)
    return rows
