-- The channels an appspace's touches name: a row per channel key (cityHash64(campaign, source, medium), as
-- touches.channel_key) with its campaign, source and medium. revenue-by-channel and attribution turn the keys
-- they group by back into names from here instead of grouping the range's touches by key a second time and
-- reading their three strings (10 M events: 17 ms of the channel statement; docs/PERFORMANCE.md). Names are
-- not personal data, so a user's deletion leaves them. ReplacingMergeTree: every insert repeats the channels it
-- saw, merges keep one row each, and readers group by key.
CREATE TABLE IF NOT EXISTS touch_channels (
    appspace_id LowCardinality(String),
    channel_key UInt64,
    campaign String,
    source String,
    medium String
) ENGINE = ReplacingMergeTree
ORDER BY (appspace_id, channel_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS touch_channels_mv TO touch_channels AS
SELECT DISTINCT appspace_id, cityHash64(campaign, source, medium) AS channel_key, campaign, source, medium
FROM touches;

-- Touches stored before the view (a rerun repeats rows, which merges collapse).
INSERT INTO touch_channels
SELECT DISTINCT appspace_id, channel_key, campaign, source, medium FROM touches;
