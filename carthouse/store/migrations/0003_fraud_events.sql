-- The fraud audit: every flagged (also stored in events, marked) and blocked (stored nowhere else) event,
-- written by ingest in the same group commit as the events. revenue is in the appspace's base currency's
-- minor units, like events.revenue. A re-sent event replaces its earlier row (same audit_key) instead of
-- listing twice.
CREATE TABLE IF NOT EXISTS fraud_events (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    audit_key String,
    caught_at DateTime64(3, 'UTC'),
    severity UInt8,
    reasons Array(LowCardinality(String)),
    event_type LowCardinality(String),
    user_id String,
    anonymous_id String,
    transaction_id String,
    event_id String,
    revenue Nullable(Int64),
    currency LowCardinality(String),
    ip String,
    user_agent String,
    key_kind LowCardinality(String)
) ENGINE = ReplacingMergeTree(caught_at)
PARTITION BY toYYYYMM(event_time)
ORDER BY (appspace_id, event_time, audit_key)
