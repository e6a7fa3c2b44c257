-- Each actor's last event of any type beside its funnel reach (services/analytics/funnel_reach.py), over all its
-- events and over the unflagged ones, as a moment (epoch ms x 256 + seq; 0: none). It answers the distinct actors
-- active in a range that no stored event passes beyond (every range ending today): an actor has an event in the
-- range exactly when its last one is at or after the range's start (revenue-by-channel's direct channel,
-- services/analytics/queries/channels.py). Merged with max(), as the reach.
ALTER TABLE funnel_reach ADD COLUMN IF NOT EXISTS last_active SimpleAggregateFunction(max, UInt64);
ALTER TABLE funnel_reach ADD COLUMN IF NOT EXISTS clean_last_active SimpleAggregateFunction(max, UInt64);

-- The marks cover every event with an actor, not only step events, and carry the group's last moments of each
-- actor, which a round adds to the reach without reading events again. A mark of an actor without new step events
-- makes a round recompute its reach from its stored steps: the same reach again.
ALTER TABLE funnel_dirty ADD COLUMN IF NOT EXISTS last_moment UInt64;
ALTER TABLE funnel_dirty ADD COLUMN IF NOT EXISTS clean_last_moment UInt64;

DROP VIEW IF EXISTS funnel_dirty_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_dirty_mv TO funnel_dirty AS
SELECT appspace_id, cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
       user_id, min(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq) AS first_moment,
       max(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq) AS last_moment,
       maxIf(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq, fraud_severity = 0) AS clean_last_moment,
       now64(3) AS inserted_at
FROM events_ingest
WHERE (user_id != '' OR anonymous_id != '' OR cart_id != '') AND fraud_severity < 2
GROUP BY appspace_id, actor_key, user_id;

-- Actors stored before this migration, when the worker has already filled the reach (its first round fills the
-- activity with it otherwise); skipped when it already ran: a rerun after a crash.
INSERT INTO funnel_reach (appspace_id, actor_key, user_id, last_active, clean_last_active)
SELECT appspace_id, actor_key, any(user_id), max(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq),
       maxIf(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq, fraud_severity = 0)
FROM events
WHERE actor_key != cityHash64('')
  AND (SELECT count() FROM funnel_progress) > 0 AND (SELECT max(last_active) FROM funnel_reach) = 0
GROUP BY appspace_id, actor_key;
