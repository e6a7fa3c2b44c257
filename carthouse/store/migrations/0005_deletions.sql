-- GDPR deletion requests: recorded when DELETE /v1/api/analytics/user/{user_id} is called, processed in the
-- background (ClickHouse mutations that rewrite the parts without the user's rows), kept as the record that
-- it was done. One row per (appspace, user); a new request for the same user replaces it (pending again).
CREATE TABLE IF NOT EXISTS deletion_requests (
    appspace_id LowCardinality(String),
    user_id String,
    requested_at DateTime64(3, 'UTC'),
    status LowCardinality(String),
    completed_at Nullable(DateTime64(3, 'UTC')),
    rows_before UInt64,
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (appspace_id, user_id)
