-- Each purchase's channel inputs, kept so that revenue-by-channel groups purchases instead of joining every
-- buyer's touches at query time (services/analytics/last_touches.py, docs/PERFORMANCE.md): the channel on the
-- purchase itself, and its user's last touch within the 30 days before it, once counting flagged touches and once
-- without them. A touch is packed as (time in ms << 64) | channel key, so the last touch is the largest number
-- and rows of one purchase merge with max(). Touches are matched by user_id, as DESIGN.md defines.
--
-- Finding last touches as events arrive (a view joining each INSERT to the stored touches and purchases) cost
-- ingest a quarter to a third of its throughput (docs/PERFORMANCE.md), so the views below only record what
-- arrived: each purchase's own fields, and which users got a purchase or a touch (attribution_dirty). The
-- analytics service then adds those users' last touches in the background (last_touches.LastTouchWorker), and
-- until it has, queries attribute their purchases from touches as before (attribution_progress says how far it
-- got).
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

-- Each purchase as it arrives, with its own fields; its user's last touches come from the background worker.
CREATE MATERIALIZED VIEW IF NOT EXISTS purchase_channels_mv TO purchase_channels AS
SELECT appspace_id, event_time, event_id, user_id, ifNull(revenue, 0) AS revenue, fraud_severity,
       if(properties['campaign'] != '' OR properties['utm_campaign'] != '',
          cityHash64(if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']),
                     if(properties['source'] != '', properties['source'], properties['utm_source']),
                     if(properties['medium'] != '', properties['medium'], properties['utm_medium'])),
          0) AS own_channel,
       toUInt128(0) AS last_touch, toUInt128(0) AS last_clean_touch
FROM events_ingest
-- Blocked events (fraud_severity 2) reach the fraud audit only, as in every analytics table (migration 0008).
WHERE event_type = 'purchase' AND fraud_severity < 2;

-- Users whose purchases' last touches may have changed: a row per user and INSERT that brought the user a
-- purchase or a touch, with the times of the first and last such event (the purchases to revisit lie between
-- the first and 30 days after the last), stamped with the time of the INSERT. The worker drops the days of marks
-- it has finished.
CREATE TABLE IF NOT EXISTS attribution_dirty (
    appspace_id LowCardinality(String),
    user_id String,
    first_at DateTime64(3, 'UTC'),
    last_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC')
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (appspace_id, inserted_at)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS attribution_dirty_mv TO attribution_dirty AS
SELECT appspace_id, user_id, min(event_time) AS first_at, max(event_time) AS last_at, now64(3) AS inserted_at
FROM events_ingest
WHERE user_id != '' AND fraud_severity < 2
  AND (event_type = 'purchase' OR properties['campaign'] != '' OR properties['utm_campaign'] != '')
GROUP BY appspace_id, user_id;

-- How far the worker got: every user marked dirty up to done_until has its purchases' last touches stored.
CREATE TABLE IF NOT EXISTS attribution_progress (
    done_until DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY done_until;

-- The backfill above covers every user of the events stored before this migration.
INSERT INTO attribution_progress SELECT now64(3) WHERE (SELECT count() FROM attribution_progress) = 0;
