"""Each purchase's last touches, stored in purchase_channels (migration 0016) in the background: the views of
events_ingest write every purchase with its own fields and mark its user, and every touch's user, in
attribution_dirty; this worker then stores, for the purchases of the users marked since its last round, their
users' last touch within the lookback with and without flagged touches, and every touch of the attribution
lookback (migration 0021) with and without them. Queries treat users marked after
attribution_progress's mark as not yet done and attribute their purchases from touches (channels.py),
so answers never wait for the worker.

Doing this inside the INSERT (a view joining each group to the stored touches and purchases) cost ingest a
quarter to a third of its throughput on 2 vCPUs (docs/PERFORMANCE.md); here it costs one statement per round for
all the users of the round. A round only takes users marked more than MARGIN ago: an INSERT is stamped when its views
run and becomes visible when it ends, so a slower INSERT stamped earlier cannot commit behind the mark. Several
workers (replicas) may run the same round: rows are merged with max(), which the repetition does not change.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from carthouse.store import Store
from services.analytics.background import MARKED_ROUND_SECONDS, MarkedRounds, drop_finished_days, store_time

log = logging.getLogger("carthouse.analytics.last_touches")

MARGIN = timedelta(seconds=10)
LOOKBACK_MS = 30 * 24 * 3600 * 1000
# The touches kept per purchase for attribution: its longest window (queries/attribution.py WINDOWS).
ATTRIBUTION_LOOKBACK_MS = 90 * 24 * 3600 * 1000

# Where the last round ended (the migration writes the first mark, after its backfill).
DONE_UNTIL = "(SELECT max(done_until) FROM attribution_progress)"
# Users whose deletion is pending are left out: their rows are being removed (deletions.py).
ROUND_USERS = f"""
SELECT appspace_id, user_id, min(first_at) AS first_at, max(last_at) AS last_at FROM attribution_dirty
WHERE inserted_at > {DONE_UNTIL} AND inserted_at <= {{until:DateTime64(3, 'UTC')}}
  AND (appspace_id, user_id) NOT IN (
      SELECT appspace_id, user_id FROM deletion_requests FINAL WHERE status = 'pending')
GROUP BY appspace_id, user_id
"""


def packed_touch(at: str) -> str:
    """A touch (its time the column ``at``, its index in its request the column ``seq``) packed as (time in ms <<
    72) | (seq << 64) | channel_key: the last one is the largest (the later touch; of two at the same millisecond
    the one sent later, then the larger key), with no sort and no arrays of tuples. Times are after 1970 (ingest
    refuses timestamps older than the plan's retention), so the packing keeps their order."""
    return (f"bitOr(bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Milli({at})), 72), "
            f"bitShiftLeft(toUInt128(seq), 64)), channel_key)")


def _within(lookback_ms: int, bought: str, bought_seq: str) -> str:
    """The condition on a packed touch ``t``: within ``lookback_ms`` before the purchase at ``bought`` (a
    DateTime64) sent as ``bought_seq`` of its request. A touch exactly that much older counts, and one at the
    purchase's millisecond only if it was sent before it (or is the purchase itself)."""
    return (f"bitShiftRight(t, 64) BETWEEN toUInt128(toUnixTimestamp64Milli({bought}) - {lookback_ms}) * 256 "
            f"AND toUInt128(toUnixTimestamp64Milli({bought})) * 256 + {bought_seq}")


def last_in_lookback(touches: str, bought: str, bought_seq: str) -> str:
    """The largest packed touch of ``touches`` within LOOKBACK_MS before the purchase, else 0."""
    return f"arrayMax(t -> if({_within(LOOKBACK_MS, bought, bought_seq)}, t, 0), {touches})"


def touches_in_lookback(touches: str, bought: str, bought_seq: str) -> str:
    """The packed touches of ``touches`` within ATTRIBUTION_LOOKBACK_MS before the purchase, sorted from the newest
    down: the order in which an array that holds more touches is the larger (migration 0021)."""
    return f"arrayReverseSort(arrayFilter(t -> {_within(ATTRIBUTION_LOOKBACK_MS, bought, bought_seq)}, {touches}))"


# The round's users' purchases that their marked events can change (a new purchase is one of them; a touch
# changes the purchases of the 90 days after it, the attribution lookback), with their last touches and their
# touches, as rows of purchase_channels. Times bound both reads (both tables are ordered by appspace and time):
# under steady ingest the marks are of the last seconds, so the round reads the last seconds of purchases and,
# for those it found, 90 days of touches.
STORE_ROUND = f"""
INSERT INTO purchase_channels
WITH
purchases AS (
    SELECT appspace_id, event_time, event_id, any(user_id) AS buyer, any(revenue) AS order_revenue,
           any(fraud_severity) AS severity, any(own_channel) AS own, any(seq) AS bought_seq
    FROM purchase_channels
    WHERE event_time >= {{first:DateTime64(3, 'UTC')}}
      AND event_time <= {{last:DateTime64(3, 'UTC')}} + INTERVAL {ATTRIBUTION_LOOKBACK_MS} MILLISECOND
      AND (appspace_id, user_id) IN (SELECT appspace_id, user_id FROM ({ROUND_USERS}))
    GROUP BY appspace_id, event_time, event_id
),
user_touches AS (
    SELECT appspace_id, user_key, groupArray({packed_touch("event_time")}) AS all_touches,
           groupArrayIf({packed_touch("event_time")}, fraud_severity = 0) AS clean_touches
    FROM touches
    WHERE event_time >= {{first:DateTime64(3, 'UTC')}} - INTERVAL {ATTRIBUTION_LOOKBACK_MS} MILLISECOND
      AND event_time <= {{last:DateTime64(3, 'UTC')}} + INTERVAL {ATTRIBUTION_LOOKBACK_MS} MILLISECOND
      AND (appspace_id, user_key) IN (SELECT appspace_id, cityHash64(buyer) FROM purchases)
    GROUP BY appspace_id, user_key
)
SELECT purchases.appspace_id AS appspace_id, purchases.event_time AS event_time, purchases.event_id AS event_id,
       purchases.buyer AS user_id, purchases.order_revenue AS revenue, purchases.severity AS fraud_severity,
       purchases.own AS own_channel,
       {last_in_lookback("user_touches.all_touches", "purchases.event_time", "purchases.bought_seq")} AS last_touch,
       {last_in_lookback("user_touches.clean_touches", "purchases.event_time", "purchases.bought_seq")}
           AS last_clean_touch,
       purchases.bought_seq AS seq,
       {touches_in_lookback("user_touches.all_touches", "purchases.event_time", "purchases.bought_seq")} AS touches,
       {touches_in_lookback("user_touches.clean_touches", "purchases.event_time", "purchases.bought_seq")}
           AS clean_touches
FROM purchases
LEFT JOIN user_touches
    ON purchases.appspace_id = user_touches.appspace_id AND cityHash64(purchases.buyer) = user_touches.user_key
SETTINGS join_use_nulls = 0
"""


def store_round(store: Store, margin: timedelta = MARGIN) -> int:
    """Store the last touches of the users marked up to ``margin`` ago; answers how many users. The time is the
    store's, as the marks' stamps are (a ClickHouse server's clock may differ from this host's)."""
    until = store_time(store) - margin
    round_ = store.query(f"SELECT count() AS users, toString(min(first_at)) AS first, toString(max(last_at)) AS last "
                         f"FROM ({ROUND_USERS})", {"until": until})[0]
    users = int(round_["users"])
    if users:
        # Bounds as parameters, so that both reads are cut by the tables' keys before any subquery runs.
        store.execute(STORE_ROUND, {"until": until, "first": round_["first"], "last": round_["last"]})
        store.execute("INSERT INTO attribution_progress VALUES ({until:DateTime64(3, 'UTC')})", {"until": until})
    drop_finished_days(store, "attribution_dirty", DONE_UNTIL)
    return users


class LastTouchWorker(MarkedRounds):
    def __init__(self, store: Store, rewrites: threading.Lock, poll_seconds: float = MARKED_ROUND_SECONDS,
                 margin: timedelta = MARGIN) -> None:
        super().__init__("last-touches", store_round, store, rewrites, poll_seconds, margin, log,
                         "stored the last touches of %d users' purchases")
