-- Each purchase's touches for attribution, kept beside its last touches (services/analytics/last_touches.py):
-- every touch of its user in the 90 days before it (the longest attribution window; at the purchase's moment
-- only those sent before it, or the purchase itself), once counting flagged touches and once without them.
-- Touches are packed as in last_touch, (time in ms << 72) | (seq << 64) | channel key, and an array is sorted
-- from the newest down: a later round's array for a purchase holds every touch an earlier one held (touches are
-- only ever added; a deleted user's purchases go with them), and of two such arrays sorted that way the larger
-- is the one with more touches, so rows of one purchase merge with max() as the last touches do. Attribution
-- then reads each purchase's touches instead of grouping every buyer's touches on each call
-- (docs/PERFORMANCE.md). The view of purchases writes empty arrays; the worker fills them.
ALTER TABLE purchase_channels ADD COLUMN IF NOT EXISTS touches SimpleAggregateFunction(max, Array(UInt128));
ALTER TABLE purchase_channels ADD COLUMN IF NOT EXISTS clean_touches SimpleAggregateFunction(max, Array(UInt128));

-- Purchases stored before this migration (a rerun after a crash writes the same rows again, which max() folds).
INSERT INTO purchase_channels (appspace_id, event_time, event_id, user_id, revenue, fraud_severity, own_channel,
                               last_touch, last_clean_touch, seq, touches, clean_touches)
WITH
purchases AS (
    SELECT appspace_id, event_time, event_id, any(user_id) AS buyer, any(revenue) AS order_revenue,
           any(fraud_severity) AS severity, any(own_channel) AS own, any(seq) AS bought_seq,
           max(last_touch) AS stored_touch, max(last_clean_touch) AS stored_clean_touch
    FROM purchase_channels
    WHERE user_id != ''
    GROUP BY appspace_id, event_time, event_id
),
packed AS (
    SELECT appspace_id, user_key, fraud_severity,
           bitOr(bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(event_time)), 72),
                       bitShiftLeft(toUInt128(seq), 64)), channel_key) AS touch
    FROM touches
    WHERE user_id != ''
),
user_touches AS (
    SELECT appspace_id, user_key, groupArray(touch) AS all_touches,
           groupArrayIf(touch, fraud_severity = 0) AS clean_touches
    FROM packed
    GROUP BY appspace_id, user_key
)
SELECT purchases.appspace_id, purchases.event_time, purchases.event_id, purchases.buyer, purchases.order_revenue,
       purchases.severity, purchases.own, purchases.stored_touch, purchases.stored_clean_touch, purchases.bought_seq,
       arrayReverseSort(arrayFilter(
           t -> bitShiftRight(t, 64) BETWEEN toUInt128(toUnixTimestamp64Milli(purchases.event_time) - 7776000000) * 256
                AND toUInt128(toUnixTimestamp64Milli(purchases.event_time)) * 256 + purchases.bought_seq,
           user_touches.all_touches)),
       arrayReverseSort(arrayFilter(
           t -> bitShiftRight(t, 64) BETWEEN toUInt128(toUnixTimestamp64Milli(purchases.event_time) - 7776000000) * 256
                AND toUInt128(toUnixTimestamp64Milli(purchases.event_time)) * 256 + purchases.bought_seq,
           user_touches.clean_touches))
FROM purchases
LEFT JOIN user_touches
    ON purchases.appspace_id = user_touches.appspace_id AND cityHash64(purchases.buyer) = user_touches.user_key
SETTINGS join_use_nulls = 0;
