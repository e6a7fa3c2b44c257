-- Each purchase's channel inputs, kept as events arrive so that revenue-by-channel groups purchases instead of
-- joining every buyer's touches at query time (services/analytics/queries/channels.py, docs/PERFORMANCE.md):
-- the channel on the purchase itself, and its user's last touch within the 30 days before it, once counting
-- flagged touches and once without them. A touch is packed as in the channel statement before: its time in
-- milliseconds above its channel key, so the last touch is the largest number and merging rows of one purchase
-- is max(). A touch that arrives after a purchase it precedes (a late or out-of-order event) adds a row with the
-- larger touch for each stored purchase of its user up to 30 days later: the same view does both, in one
-- INSERT with the events (docs/RELIABILITY.md). Touches are matched by user_id, as DESIGN.md defines.
CREATE TABLE IF NOT EXISTS purchase_channels (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC') CODEC(T64, LZ4),
    event_id UUID,
    -- The purchase's own fields: every row of a purchase repeats them (any() of equal values).
    user_id SimpleAggregateFunction(any, String),
    revenue SimpleAggregateFunction(any, Int64),
    fraud_severity SimpleAggregateFunction(any, UInt8),
    -- cityHash64(campaign, source, medium) of the purchase's own campaign (touches.channel_key), 0 without one.
    own_channel SimpleAggregateFunction(any, UInt64),
    -- (time in ms << 64) | channel key of the user's last touch in the lookback, 0 without one.
    last_touch SimpleAggregateFunction(max, UInt128),
    last_clean_touch SimpleAggregateFunction(max, UInt128)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (appspace_id, event_time, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Purchases stored before this migration (skipped when the table already has rows: a rerun after a crash).
INSERT INTO purchase_channels
WITH
buyers AS (
    SELECT appspace_id, event_time, event_id, user_id, cityHash64(user_id) AS user_key,
           ifNull(revenue, 0) AS revenue, fraud_severity,
           if(properties['campaign'] != '' OR properties['utm_campaign'] != '',
              cityHash64(if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']),
                         if(properties['source'] != '', properties['source'], properties['utm_source']),
                         if(properties['medium'] != '', properties['medium'], properties['utm_medium'])),
              0) AS own_channel
    FROM events
    WHERE event_type = 'purchase' AND (SELECT count() FROM purchase_channels) = 0
),
user_touches AS (
    SELECT appspace_id, user_key,
           groupArray(bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(event_time)), 64), channel_key)) AS all_touches,
           groupArrayIf(bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(event_time)), 64), channel_key),
                        fraud_severity = 0) AS clean_touches
    FROM touches
    WHERE user_id != '' AND (appspace_id, user_key) IN (SELECT appspace_id, user_key FROM buyers)
    GROUP BY appspace_id, user_key
)
SELECT buyers.appspace_id AS appspace_id, buyers.event_time AS event_time, buyers.event_id AS event_id,
       buyers.user_id AS user_id, buyers.revenue AS revenue, buyers.fraud_severity AS fraud_severity,
       buyers.own_channel AS own_channel,
       arrayMax(t -> if(bitShiftRight(t, 64) BETWEEN toUnixTimestamp64Milli(buyers.event_time) - 2592000000
                                              AND toUnixTimestamp64Milli(buyers.event_time), t, 0),
                user_touches.all_touches) AS last_touch,
       arrayMax(t -> if(bitShiftRight(t, 64) BETWEEN toUnixTimestamp64Milli(buyers.event_time) - 2592000000
                                              AND toUnixTimestamp64Milli(buyers.event_time), t, 0),
                user_touches.clean_touches) AS last_clean_touch
FROM buyers
LEFT JOIN user_touches ON buyers.appspace_id = user_touches.appspace_id AND buyers.user_key = user_touches.user_key
SETTINGS join_use_nulls = 0;

-- As events arrive: the block's purchases with their users' touches (stored ones and the block's own), and the
-- stored purchases of users the block touches within the 30 days after each touch. Every reference to
-- events_ingest below reads the block being inserted. A purchase without a user_id has no touches.
CREATE MATERIALIZED VIEW IF NOT EXISTS purchase_channels_mv TO purchase_channels AS
WITH
block_touches AS (
    SELECT appspace_id, cityHash64(user_id) AS user_key, event_time,
           cityHash64(if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']),
                      if(properties['source'] != '', properties['source'], properties['utm_source']),
                      if(properties['medium'] != '', properties['medium'], properties['utm_medium'])) AS channel_key,
           fraud_severity
    FROM events_ingest
    WHERE (properties['campaign'] != '' OR properties['utm_campaign'] != '') AND user_id != '' AND fraud_severity < 2
),
block_purchases AS (
    SELECT appspace_id, event_time, event_id, user_id, cityHash64(user_id) AS user_key,
           ifNull(revenue, 0) AS revenue, fraud_severity,
           if(properties['campaign'] != '' OR properties['utm_campaign'] != '',
              cityHash64(if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']),
                         if(properties['source'] != '', properties['source'], properties['utm_source']),
                         if(properties['medium'] != '', properties['medium'], properties['utm_medium'])),
              0) AS own_channel
    FROM events_ingest
    WHERE event_type = 'purchase' AND fraud_severity < 2
),
buyers AS (
    SELECT * FROM block_purchases
    UNION ALL
    SELECT appspace_id, event_time, event_id, user_id, cityHash64(user_id) AS user_key, revenue, fraud_severity,
           own_channel
    FROM purchase_channels
    WHERE (appspace_id, cityHash64(user_id)) IN (SELECT appspace_id, user_key FROM block_touches)
      AND event_time >= (SELECT min(event_time) FROM block_touches)
      AND event_time <= (SELECT max(event_time) FROM block_touches) + INTERVAL 30 DAY
),
candidate_touches AS (
    SELECT * FROM block_touches
    UNION ALL
    SELECT appspace_id, user_key, event_time, channel_key, fraud_severity
    FROM touches
    WHERE (appspace_id, user_key) IN (SELECT appspace_id, user_key FROM block_purchases WHERE user_id != '')
      AND event_time >= (SELECT min(event_time) FROM block_purchases) - INTERVAL 30 DAY
      AND event_time <= (SELECT max(event_time) FROM block_purchases)
),
user_touches AS (
    SELECT appspace_id, user_key,
           groupArray(bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(event_time)), 64), channel_key)) AS all_touches,
           groupArrayIf(bitOr(bitShiftLeft(toUInt128(toUnixTimestamp64Milli(event_time)), 64), channel_key),
                        fraud_severity = 0) AS clean_touches
    FROM candidate_touches
    GROUP BY appspace_id, user_key
)
SELECT buyers.appspace_id AS appspace_id, buyers.event_time AS event_time, buyers.event_id AS event_id,
       buyers.user_id AS user_id, buyers.revenue AS revenue, buyers.fraud_severity AS fraud_severity,
       buyers.own_channel AS own_channel,
       arrayMax(t -> if(bitShiftRight(t, 64) BETWEEN toUnixTimestamp64Milli(buyers.event_time) - 2592000000
                                              AND toUnixTimestamp64Milli(buyers.event_time), t, 0),
                user_touches.all_touches) AS last_touch,
       arrayMax(t -> if(bitShiftRight(t, 64) BETWEEN toUnixTimestamp64Milli(buyers.event_time) - 2592000000
                                              AND toUnixTimestamp64Milli(buyers.event_time), t, 0),
                user_touches.clean_touches) AS last_clean_touch
FROM buyers
LEFT JOIN user_touches ON buyers.appspace_id = user_touches.appspace_id AND buyers.user_key = user_touches.user_key
SETTINGS join_use_nulls = 0;
