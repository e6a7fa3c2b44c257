-- Tenancy: appspaces and their API keys. Mutable rows are versioned by updated_at and read with FINAL.
CREATE TABLE IF NOT EXISTS appspaces (
    appspace_id String,
    name String,
    plan LowCardinality(String),
    base_currency LowCardinality(String),
    timezone String,
    settings String DEFAULT '{}',
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY appspace_id;

CREATE TABLE IF NOT EXISTS api_keys (
    appspace_id String,
    key_id String,
    kind LowCardinality(String),
    key_hash String,
    created_at DateTime64(3, 'UTC'),
    revoked_at Nullable(DateTime64(3, 'UTC')),
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (appspace_id, key_id);

-- Ingest writes one INSERT into events_ingest (Null engine: stores nothing itself); the three materialized
-- views below fan each block out into events, event_items and event_properties. An event, its items and
-- its properties therefore arrive in one statement, and items are not stored twice.
-- Money is Int64 minor units of the appspace's base currency; the amounts as sent (original currency,
-- exact decimal) and the rate used are kept beside them.
CREATE TABLE IF NOT EXISTS events_ingest (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    -- The client's event_id when it sent one, else generated here (cheaper than a syscall per event in Python).
    event_id UUID DEFAULT generateUUIDv4(),
    client_event_id String,
    event_type LowCardinality(String),
    user_id String,
    anonymous_id String,
    cart_id String,
    transaction_id String,
    revenue Nullable(Int64),
    discount Int64,
    shipping Int64,
    tax Int64,
    currency LowCardinality(String),
    revenue_original Nullable(Decimal(38, 9)),
    discount_original Decimal(38, 9),
    shipping_original Decimal(38, 9),
    tax_original Decimal(38, 9),
    fx_rate Decimal(38, 18),
    coupon_code String,
    items Nested(
        item_id String,
        item_name String,
        item_category String,
        item_brand String,
        item_variant String,
        item_list_name String,
        item_list_id String,
        item_image_url String,
        price Nullable(Int64),
        price_original Nullable(Decimal(38, 9)),
        quantity Int32,
        currency String,
        coupon_code String,
        discount Int64
    ),
    properties Map(String, String),
    ip String,
    user_agent String,
    country LowCardinality(String),
    device_type LowCardinality(String),
    platform LowCardinality(String),
    locale LowCardinality(String),
    key_kind LowCardinality(String),
    fraud_severity UInt8,
    fraud_reasons Array(String),
    received_at DateTime64(3, 'UTC')
) ENGINE = Null;

CREATE TABLE IF NOT EXISTS events (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    -- The client's event_id when it sent one, else generated here (cheaper than a syscall per event in Python).
    event_id UUID DEFAULT generateUUIDv4(),
    client_event_id String,
    event_type LowCardinality(String),
    user_id String,
    anonymous_id String,
    cart_id String,
    transaction_id String,
    revenue Nullable(Int64),
    discount Int64,
    shipping Int64,
    tax Int64,
    currency LowCardinality(String),
    revenue_original Nullable(Decimal(38, 9)),
    discount_original Decimal(38, 9),
    shipping_original Decimal(38, 9),
    tax_original Decimal(38, 9),
    fx_rate Decimal(38, 18),
    coupon_code String,
    properties Map(String, String),
    ip String,
    user_agent String,
    country LowCardinality(String),
    device_type LowCardinality(String),
    platform LowCardinality(String),
    locale LowCardinality(String),
    key_kind LowCardinality(String),
    fraud_severity UInt8,
    fraud_reasons Array(String),
    received_at DateTime64(3, 'UTC')
) ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (appspace_id, event_type, event_time);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_mv TO events AS
SELECT * EXCEPT (`items.item_id`, `items.item_name`, `items.item_category`, `items.item_brand`,
    `items.item_variant`, `items.item_list_name`, `items.item_list_id`, `items.item_image_url`, `items.price`,
    `items.price_original`, `items.quantity`, `items.currency`, `items.coupon_code`, `items.discount`)
FROM events_ingest;

CREATE TABLE IF NOT EXISTS event_items (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    event_id UUID,
    event_type LowCardinality(String),
    user_id String,
    transaction_id String,
    item_id String,
    item_name String,
    item_category String,
    item_brand String,
    item_variant String,
    item_list_name String,
    item_list_id String,
    item_image_url String,
    price Nullable(Int64),
    price_original Nullable(Decimal(38, 9)),
    quantity Int32,
    currency LowCardinality(String),
    coupon_code String,
    discount Int64,
    fraud_severity UInt8
) ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (appspace_id, event_type, event_time, item_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS event_items_mv TO event_items AS
SELECT
    appspace_id, event_time, event_id, event_type, user_id, transaction_id,
    items.item_id AS item_id, items.item_name AS item_name, items.item_category AS item_category,
    items.item_brand AS item_brand, items.item_variant AS item_variant,
    items.item_list_name AS item_list_name, items.item_list_id AS item_list_id,
    items.item_image_url AS item_image_url, items.price AS price, items.price_original AS price_original,
    items.quantity AS quantity, items.currency AS currency, items.coupon_code AS coupon_code,
    items.discount AS discount, fraud_severity
FROM events_ingest
ARRAY JOIN items;

CREATE TABLE IF NOT EXISTS event_properties (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    event_id UUID,
    event_type LowCardinality(String),
    user_id String,
    key String,
    value String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (appspace_id, key, event_time);

CREATE MATERIALIZED VIEW IF NOT EXISTS event_properties_mv TO event_properties AS
SELECT appspace_id, event_time, event_id, event_type, user_id, property.1 AS key, property.2 AS value
FROM events_ingest
ARRAY JOIN CAST(properties, 'Array(Tuple(String, String))') AS property
