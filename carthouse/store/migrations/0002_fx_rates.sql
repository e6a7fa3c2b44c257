-- Exchange rates as fetched from a provider: units of `currency` per one `pivot`, valid from `as_of`.
-- Kept so that every replica converts with the same rate and a restart needs no refetch.
CREATE TABLE IF NOT EXISTS fx_rates (
    provider LowCardinality(String),
    pivot LowCardinality(String),
    as_of DateTime('UTC'),
    currency LowCardinality(String),
    rate Decimal(38, 18),
    fetched_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(fetched_at)
ORDER BY (provider, pivot, as_of, currency)
