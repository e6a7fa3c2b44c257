-- Who was active in each hour: a row per appspace, UTC hour and actor (its 64-bit key, as events.actor_key),
-- split by flagged or not, with the actor's user_id for the scope's pending-deletion rule and for deletion.
-- Shoppers act in visits of several events a few minutes apart, so an hour of an appspace holds several times
-- fewer actor-hours than events; the distinct actors of a range of whole hours are counted here instead of in
-- events (revenue-by-channel's direct channel, services/analytics/queries/channels.py; docs/PERFORMANCE.md).
-- ReplacingMergeTree: every insert repeats the actor-hours it saw, merges keep one row each, readers count
-- distinct keys anyway.
CREATE TABLE IF NOT EXISTS actor_hours (
    appspace_id LowCardinality(String),
    hour DateTime('UTC'),
    actor_key UInt64,
    flagged UInt8,
    user_id String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (appspace_id, hour, actor_key, flagged, user_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS actor_hours_mv TO actor_hours AS
SELECT DISTINCT appspace_id, toStartOfHour(event_time) AS hour,
       cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
       fraud_severity > 0 AS flagged, user_id
FROM events_ingest
-- Blocked events (fraud_severity 2) reach the fraud audit only, as in every analytics table (migration 0008).
WHERE (user_id != '' OR anonymous_id != '' OR cart_id != '') AND fraud_severity < 2;

-- Events stored before the view (a rerun repeats rows, which merges collapse and counts ignore).
INSERT INTO actor_hours
SELECT DISTINCT appspace_id, toStartOfHour(event_time), actor_key, fraud_severity > 0, user_id
FROM events
WHERE actor_key != cityHash64('');
