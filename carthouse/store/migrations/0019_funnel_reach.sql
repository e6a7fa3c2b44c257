-- Each actor's funnel reach (services/analytics/funnel_reach.py): the latest moment of a step-1 event that starts
-- a chain reaching each funnel level within the funnel's window, over all its step events and over the unflagged
-- ones, 0 where none does. Moments as in funnel_steps (epoch ms x 256 + seq). A background worker inserts them;
-- merges keep the largest (new events only add chains). user_id: the actor's, for the scope's pending-deletion
-- rule and for deletion.
CREATE TABLE IF NOT EXISTS funnel_reach (
    appspace_id LowCardinality(String),
    actor_key UInt64,
    user_id String,
    reach_1 SimpleAggregateFunction(max, UInt64),
    reach_2 SimpleAggregateFunction(max, UInt64),
    reach_3 SimpleAggregateFunction(max, UInt64),
    reach_4 SimpleAggregateFunction(max, UInt64),
    reach_5 SimpleAggregateFunction(max, UInt64),
    reach_6 SimpleAggregateFunction(max, UInt64),
    clean_reach_1 SimpleAggregateFunction(max, UInt64),
    clean_reach_2 SimpleAggregateFunction(max, UInt64),
    clean_reach_3 SimpleAggregateFunction(max, UInt64),
    clean_reach_4 SimpleAggregateFunction(max, UInt64),
    clean_reach_5 SimpleAggregateFunction(max, UInt64),
    clean_reach_6 SimpleAggregateFunction(max, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (appspace_id, actor_key, user_id);

-- The actors of each ingested group with step events, and the earliest moment of them: whose reach a round of
-- the worker recomputes, and which actors a query counts from raw events until it has.
CREATE TABLE IF NOT EXISTS funnel_dirty (
    appspace_id LowCardinality(String),
    actor_key UInt64,
    user_id String,
    first_moment UInt64,
    inserted_at DateTime64(3, 'UTC')
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (appspace_id, inserted_at)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_dirty_mv TO funnel_dirty AS
SELECT appspace_id, cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
       user_id, min(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq) AS first_moment,
       now64(3) AS inserted_at
FROM events_ingest
WHERE event_type IN ('view_item', 'add_to_cart', 'view_cart', 'begin_checkout', 'add_payment_info', 'purchase')
  AND (user_id != '' OR anonymous_id != '' OR cart_id != '') AND fraud_severity < 2
GROUP BY appspace_id, actor_key, user_id;

-- Where the worker's last round ended; no row until its first round has filled every actor.
CREATE TABLE IF NOT EXISTS funnel_progress (
    done_until DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY done_until;
