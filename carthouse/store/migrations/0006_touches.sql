-- Touches: events that carry a campaign (campaign or utm_campaign), with source and medium (plain or utm_),
-- one narrow row each, written by a materialized view as events arrive. Channel attribution and the
-- attribution models read these instead of pivoting event_properties at query time.
CREATE TABLE IF NOT EXISTS touches (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    event_id UUID,
    event_type LowCardinality(String),
    user_id String,
    campaign String,
    source String,
    medium String,
    fraud_severity UInt8
) ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (appspace_id, event_time, user_id);

-- Events stored before this migration (skipped when touches already has rows: a rerun after a crash).
INSERT INTO touches
SELECT appspace_id, event_time, event_id, event_type, user_id,
       if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']),
       if(properties['source'] != '', properties['source'], properties['utm_source']),
       if(properties['medium'] != '', properties['medium'], properties['utm_medium']),
       fraud_severity
FROM events
WHERE (properties['campaign'] != '' OR properties['utm_campaign'] != '') AND (SELECT count() FROM touches) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS touches_mv TO touches AS
SELECT appspace_id, event_time, event_id, event_type, user_id,
       if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']) AS campaign,
       if(properties['source'] != '', properties['source'], properties['utm_source']) AS source,
       if(properties['medium'] != '', properties['medium'], properties['utm_medium']) AS medium,
       fraud_severity
FROM events_ingest
WHERE properties['campaign'] != '' OR properties['utm_campaign'] != ''
