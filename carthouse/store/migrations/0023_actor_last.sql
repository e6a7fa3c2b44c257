-- Each actor's last product view and last add to cart, apart for flagged and unflagged events: an actor viewed
-- (carted) in a range that no stored event passes beyond, as every range ending today, exactly when one of its
-- rows holds a last view (add) at or after the range's start. The overview then counts those actors among a row
-- per actor (and insert, until merges fold them with max()) instead of grouping a row per actor and hour of the
-- range (actor_hours). Filled by a materialized view of events_ingest, like actor_hours.
CREATE TABLE IF NOT EXISTS actor_last (
    appspace_id LowCardinality(String),
    actor_key UInt64,
    flagged UInt8,
    user_id String,
    last_view SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    last_cart SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
) ENGINE = AggregatingMergeTree
ORDER BY (appspace_id, actor_key, flagged, user_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Events stored before this migration (skipped when it already ran: a rerun after a crash).
INSERT INTO actor_last
SELECT appspace_id, cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
       fraud_severity > 0 AS flagged, user_id, maxIf(event_time, event_type = 'view_item') AS last_view,
       maxIf(event_time, event_type = 'add_to_cart') AS last_cart
FROM events
WHERE event_type IN ('view_item', 'add_to_cart') AND (user_id != '' OR anonymous_id != '' OR cart_id != '')
  AND (SELECT count() FROM actor_last) = 0
GROUP BY appspace_id, actor_key, flagged, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS actor_last_mv TO actor_last AS
SELECT appspace_id, cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
       fraud_severity > 0 AS flagged, user_id, maxIf(event_time, event_type = 'view_item') AS last_view,
       maxIf(event_time, event_type = 'add_to_cart') AS last_cart
FROM events_ingest
-- Blocked events (fraud_severity 2) reach the fraud audit only, as in every analytics table (migration 0008).
WHERE event_type IN ('view_item', 'add_to_cart') AND (user_id != '' OR anonymous_id != '' OR cart_id != '')
  AND fraud_severity < 2
GROUP BY appspace_id, actor_key, flagged, user_id;
