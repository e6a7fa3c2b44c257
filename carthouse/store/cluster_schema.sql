-- Generated from the migrations by `make cluster-schema` (python -m carthouse.store.cluster);
-- never edited. $database and $cluster are filled when it is applied; {shard} and {replica} are
-- each server's macros.

CREATE TABLE IF NOT EXISTS $database.actor_hours_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `hour` DateTime('UTC'),
    `actor_key` UInt64,
    `flagged` UInt8,
    `user_id` String,
    `did` SimpleAggregateFunction(groupBitOr, UInt32)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/$database/actor_hours', '{replica}')
PARTITION BY toYear(hour)
ORDER BY (appspace_id, hour, actor_key, flagged, user_id)
SETTINGS replicated_deduplication_window = 1000, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.actor_hours ON CLUSTER $cluster AS $database.actor_hours_local
ENGINE = Distributed($cluster, $database, actor_hours_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.api_keys ON CLUSTER $cluster
(
    `appspace_id` String,
    `key_id` String,
    `kind` LowCardinality(String),
    `key_hash` String,
    `created_at` DateTime64(3, 'UTC'),
    `revoked_at` Nullable(DateTime64(3, 'UTC')),
    `updated_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/$database/api_keys', '{replica}', updated_at)
ORDER BY (appspace_id, key_id)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.appspaces ON CLUSTER $cluster
(
    `appspace_id` String,
    `name` String,
    `plan` LowCardinality(String),
    `base_currency` LowCardinality(String),
    `timezone` String,
    `settings` String DEFAULT '{}',
    `created_at` DateTime64(3, 'UTC'),
    `updated_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/$database/appspaces', '{replica}', updated_at)
ORDER BY appspace_id
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.attribution_dirty_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `user_id` String,
    `first_at` DateTime64(3, 'UTC'),
    `last_at` DateTime64(3, 'UTC'),
    `inserted_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/attribution_dirty', '{replica}')
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (appspace_id, inserted_at)
SETTINGS replicated_deduplication_window = 1000, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.attribution_dirty ON CLUSTER $cluster AS $database.attribution_dirty_local
ENGINE = Distributed($cluster, $database, attribution_dirty_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.attribution_progress ON CLUSTER $cluster
(
    `done_until` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/$database/attribution_progress', '{replica}')
ORDER BY done_until
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.cart_activity_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC') CODEC(T64, LZ4),
    `event_type` LowCardinality(String),
    `cart_key` UInt64,
    `actor_key` UInt64,
    `user_id` String,
    `fraud_severity` UInt8,
    `items_value` Int64,
    `seq` UInt8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/cart_activity', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, event_type, event_time)
SETTINGS replicated_deduplication_window = 1000, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.cart_activity ON CLUSTER $cluster AS $database.cart_activity_local
ENGINE = Distributed($cluster, $database, cart_activity_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.cart_dirty_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `cart_key` UInt64,
    `actor_key` UInt64,
    `user_id` String,
    `first_moment` UInt64,
    `bought` UInt8,
    `inserted_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/cart_dirty', '{replica}')
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (appspace_id, inserted_at)
SETTINGS replicated_deduplication_window = 1000, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.cart_dirty ON CLUSTER $cluster AS $database.cart_dirty_local
ENGINE = Distributed($cluster, $database, cart_dirty_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.cart_progress ON CLUSTER $cluster
(
    `done_until` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/$database/cart_progress', '{replica}')
ORDER BY done_until
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.cart_states_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `clean` UInt8,
    `cart_key` UInt64,
    `user_id` String,
    `first_moment` UInt64,
    `last_moment` UInt64,
    `last_actor` UInt64,
    `has_add` UInt8,
    `completed` UInt8,
    `left_value` Int128,
    `judged_at` DateTime64(6, 'UTC'),
    `sign` Int8
)
ENGINE = ReplicatedCollapsingMergeTree('/clickhouse/tables/{shard}/$database/cart_states', '{replica}', sign)
ORDER BY (appspace_id, clean, first_moment, cart_key, judged_at)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.cart_states ON CLUSTER $cluster AS $database.cart_states_local
ENGINE = Distributed($cluster, $database, cart_states_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.deletion_requests ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `user_id` String,
    `requested_at` DateTime64(3, 'UTC'),
    `status` LowCardinality(String),
    `completed_at` Nullable(DateTime64(3, 'UTC')),
    `rows_before` UInt64,
    `updated_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/$database/deletion_requests', '{replica}', updated_at)
ORDER BY (appspace_id, user_id)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.event_items_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC') CODEC(T64, LZ4),
    `event_id` UUID,
    `event_type` LowCardinality(String),
    `user_id` String,
    `transaction_id` String,
    `item_id` String,
    `item_name` String,
    `item_category` String,
    `item_brand` String,
    `item_variant` String,
    `item_list_name` String,
    `item_list_id` String,
    `item_image_url` String,
    `price` Nullable(Int64),
    `price_original` Nullable(Decimal(38, 9)),
    `quantity` Int32,
    `currency` LowCardinality(String),
    `coupon_code` String,
    `discount` Int64,
    `fraud_severity` UInt8,
    `actor` String,
    `cart_id` String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/event_items', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, event_type, event_time, item_id)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.event_items ON CLUSTER $cluster AS $database.event_items_local
ENGINE = Distributed($cluster, $database, event_items_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.event_properties_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_id` UUID,
    `event_type` LowCardinality(String),
    `user_id` String,
    `key` String,
    `value` String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/event_properties', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, key, event_time)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.event_properties ON CLUSTER $cluster AS $database.event_properties_local
ENGINE = Distributed($cluster, $database, event_properties_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.events_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC') CODEC(T64, LZ4),
    `event_id` UUID DEFAULT generateUUIDv4(),
    `client_event_id` String,
    `event_type` LowCardinality(String),
    `user_id` String,
    `anonymous_id` String,
    `cart_id` String,
    `transaction_id` String,
    `revenue` Nullable(Int64),
    `discount` Int64,
    `shipping` Int64,
    `tax` Int64,
    `currency` LowCardinality(String),
    `revenue_original` Nullable(Decimal(38, 9)),
    `discount_original` Decimal(38, 9),
    `shipping_original` Decimal(38, 9),
    `tax_original` Decimal(38, 9),
    `fx_rate` Decimal(38, 18),
    `coupon_code` String,
    `properties` Map(String, String),
    `ip` String,
    `user_agent` String,
    `country` LowCardinality(String),
    `device_type` LowCardinality(String),
    `platform` LowCardinality(String),
    `locale` LowCardinality(String),
    `key_kind` LowCardinality(String),
    `fraud_severity` UInt8,
    `fraud_reasons` Array(String),
    `received_at` DateTime64(3, 'UTC'),
    `actor` String MATERIALIZED if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id)),
    `actor_key` UInt64 MATERIALIZED cityHash64(actor),
    `seq` UInt8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/events', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, event_type, event_time)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.events ON CLUSTER $cluster AS $database.events_local
ENGINE = Distributed($cluster, $database, events_local, cityHash64(appspace_id, if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))));

CREATE TABLE IF NOT EXISTS $database.events_ingest_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_id` UUID DEFAULT generateUUIDv4(),
    `client_event_id` String,
    `event_type` LowCardinality(String),
    `user_id` String,
    `anonymous_id` String,
    `cart_id` String,
    `transaction_id` String,
    `revenue` Nullable(Int64),
    `discount` Int64,
    `shipping` Int64,
    `tax` Int64,
    `currency` LowCardinality(String),
    `revenue_original` Nullable(Decimal(38, 9)),
    `discount_original` Decimal(38, 9),
    `shipping_original` Decimal(38, 9),
    `tax_original` Decimal(38, 9),
    `fx_rate` Decimal(38, 18),
    `coupon_code` String,
    `items.item_id` Array(String),
    `items.item_name` Array(String),
    `items.item_category` Array(String),
    `items.item_brand` Array(String),
    `items.item_variant` Array(String),
    `items.item_list_name` Array(String),
    `items.item_list_id` Array(String),
    `items.item_image_url` Array(String),
    `items.price` Array(Nullable(Int64)),
    `items.price_original` Array(Nullable(Decimal(38, 9))),
    `items.quantity` Array(Int32),
    `items.currency` Array(String),
    `items.coupon_code` Array(String),
    `items.discount` Array(Int64),
    `properties` Map(String, String),
    `ip` String,
    `user_agent` String,
    `country` LowCardinality(String),
    `device_type` LowCardinality(String),
    `platform` LowCardinality(String),
    `locale` LowCardinality(String),
    `key_kind` LowCardinality(String),
    `fraud_severity` UInt8,
    `fraud_reasons` Array(String),
    `received_at` DateTime64(3, 'UTC'),
    `seq` UInt8
)
ENGINE = `Null`;

CREATE TABLE IF NOT EXISTS $database.events_ingest ON CLUSTER $cluster AS $database.events_ingest_local
ENGINE = Distributed($cluster, $database, events_ingest_local, cityHash64(appspace_id, if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))));

CREATE TABLE IF NOT EXISTS $database.fraud_events_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `audit_key` String,
    `caught_at` DateTime64(3, 'UTC'),
    `severity` UInt8,
    `reasons` Array(LowCardinality(String)),
    `event_type` LowCardinality(String),
    `user_id` String,
    `anonymous_id` String,
    `transaction_id` String,
    `event_id` String,
    `revenue` Nullable(Int64),
    `currency` LowCardinality(String),
    `ip` String,
    `user_agent` String,
    `key_kind` LowCardinality(String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/$database/fraud_events', '{replica}', caught_at)
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, event_time, audit_key)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.fraud_events ON CLUSTER $cluster AS $database.fraud_events_local
ENGINE = Distributed($cluster, $database, fraud_events_local, cityHash64(appspace_id, if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))));

CREATE TABLE IF NOT EXISTS $database.funnel_dirty_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `actor_key` UInt64,
    `user_id` String,
    `first_moment` UInt64,
    `inserted_at` DateTime64(3, 'UTC'),
    `last_moment` UInt64,
    `clean_last_moment` UInt64
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/funnel_dirty', '{replica}')
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (appspace_id, inserted_at)
SETTINGS replicated_deduplication_window = 1000, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.funnel_dirty ON CLUSTER $cluster AS $database.funnel_dirty_local
ENGINE = Distributed($cluster, $database, funnel_dirty_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.funnel_progress ON CLUSTER $cluster
(
    `done_until` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/$database/funnel_progress', '{replica}')
ORDER BY done_until
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.funnel_reach_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `actor_key` UInt64,
    `user_id` String,
    `reach_1` SimpleAggregateFunction(max, UInt64),
    `reach_2` SimpleAggregateFunction(max, UInt64),
    `reach_3` SimpleAggregateFunction(max, UInt64),
    `reach_4` SimpleAggregateFunction(max, UInt64),
    `reach_5` SimpleAggregateFunction(max, UInt64),
    `reach_6` SimpleAggregateFunction(max, UInt64),
    `clean_reach_1` SimpleAggregateFunction(max, UInt64),
    `clean_reach_2` SimpleAggregateFunction(max, UInt64),
    `clean_reach_3` SimpleAggregateFunction(max, UInt64),
    `clean_reach_4` SimpleAggregateFunction(max, UInt64),
    `clean_reach_5` SimpleAggregateFunction(max, UInt64),
    `clean_reach_6` SimpleAggregateFunction(max, UInt64),
    `last_cart` SimpleAggregateFunction(max, UInt64),
    `clean_last_cart` SimpleAggregateFunction(max, UInt64),
    `last_active` SimpleAggregateFunction(max, UInt64),
    `clean_last_active` SimpleAggregateFunction(max, UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/$database/funnel_reach', '{replica}')
ORDER BY (appspace_id, actor_key, user_id)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.funnel_reach ON CLUSTER $cluster AS $database.funnel_reach_local
ENGINE = Distributed($cluster, $database, funnel_reach_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.funnel_steps_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC') CODEC(T64, LZ4),
    `event_type` LowCardinality(String),
    `actor_key` UInt64,
    `user_id` String,
    `fraud_severity` UInt8,
    `seq` UInt8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/funnel_steps', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, toDate(event_time), actor_key, event_time)
SETTINGS replicated_deduplication_window = 1000, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.funnel_steps ON CLUSTER $cluster AS $database.funnel_steps_local
ENGINE = Distributed($cluster, $database, funnel_steps_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.fx_rates ON CLUSTER $cluster
(
    `provider` LowCardinality(String),
    `pivot` LowCardinality(String),
    `as_of` DateTime('UTC'),
    `currency` LowCardinality(String),
    `rate` Decimal(38, 18),
    `fetched_at` DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/$database/fx_rates', '{replica}', fetched_at)
ORDER BY (provider, pivot, as_of, currency)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.purchase_channels_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC') CODEC(T64, LZ4),
    `event_id` UUID,
    `user_id` SimpleAggregateFunction(any, String),
    `revenue` SimpleAggregateFunction(any, Int64),
    `fraud_severity` SimpleAggregateFunction(any, UInt8),
    `own_channel` SimpleAggregateFunction(any, UInt64),
    `last_touch` SimpleAggregateFunction(max, UInt128),
    `last_clean_touch` SimpleAggregateFunction(max, UInt128),
    `seq` SimpleAggregateFunction(any, UInt8),
    `touches` SimpleAggregateFunction(max, Array(UInt128)),
    `clean_touches` SimpleAggregateFunction(max, Array(UInt128))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/$database/purchase_channels', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, event_time, event_id)
SETTINGS replicated_deduplication_window = 1000, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.purchase_channels ON CLUSTER $cluster AS $database.purchase_channels_local
ENGINE = Distributed($cluster, $database, purchase_channels_local, cityHash64(appspace_id, user_id));

CREATE TABLE IF NOT EXISTS $database.schema_migrations ON CLUSTER $cluster
(
    `version` UInt32,
    `name` String,
    `applied_at` DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/$database/schema_migrations', '{replica}')
ORDER BY version
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS $database.touch_channels ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `channel_key` UInt64,
    `campaign` String,
    `source` String,
    `medium` String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/$database/touch_channels', '{replica}')
ORDER BY (appspace_id, channel_key)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.touches_local ON CLUSTER $cluster
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC') CODEC(T64, LZ4),
    `event_id` UUID,
    `event_type` LowCardinality(String),
    `user_id` String,
    `campaign` String,
    `source` String,
    `medium` String,
    `fraud_severity` UInt8,
    `user_key` UInt64 MATERIALIZED cityHash64(user_id),
    `channel_key` UInt64 MATERIALIZED cityHash64(campaign, source, medium),
    `seq` UInt8
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$database/touches', '{replica}')
PARTITION BY toYear(event_time)
ORDER BY (appspace_id, event_time, user_id)
SETTINGS index_granularity = 8192, replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS $database.touches ON CLUSTER $cluster AS $database.touches_local
ENGINE = Distributed($cluster, $database, touches_local, cityHash64(appspace_id, user_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.actor_hours_mv ON CLUSTER $cluster TO $database.actor_hours_local
(
    `appspace_id` LowCardinality(String),
    `hour` DateTime('UTC'),
    `actor_key` UInt64,
    `flagged` UInt8,
    `user_id` String,
    `did` UInt32
)
AS SELECT
    appspace_id,
    toStartOfHour(event_time) AS hour,
    cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
    fraud_severity > 0 AS flagged,
    user_id,
    groupBitOr(transform(toString(event_type), ['view_item', 'add_to_cart', 'remove_from_cart', 'add_to_wishlist', 'view_cart', 'add_payment_info', 'begin_checkout', 'purchase', 'refund', 'search', 'share', 'rate', 'spend_credits'], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096], toUInt32(0))) AS did
FROM $database.events_ingest_local
WHERE ((user_id != '') OR (anonymous_id != '') OR (cart_id != '')) AND (fraud_severity < 2)
GROUP BY
    appspace_id,
    hour,
    actor_key,
    flagged,
    user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.attribution_dirty_mv ON CLUSTER $cluster TO $database.attribution_dirty_local
(
    `appspace_id` LowCardinality(String),
    `user_id` String,
    `first_at` DateTime64(3, 'UTC'),
    `last_at` DateTime64(3, 'UTC'),
    `inserted_at` DateTime64(3)
)
AS SELECT
    appspace_id,
    user_id,
    min(event_time) AS first_at,
    max(event_time) AS last_at,
    now64(3) AS inserted_at
FROM $database.events_ingest_local
WHERE (user_id != '') AND (fraud_severity < 2) AND ((event_type = 'purchase') OR ((properties['campaign']) != '') OR ((properties['utm_campaign']) != ''))
GROUP BY
    appspace_id,
    user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.cart_activity_mv ON CLUSTER $cluster TO $database.cart_activity_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_type` LowCardinality(String),
    `cart_key` UInt64,
    `actor_key` UInt64,
    `user_id` String,
    `fraud_severity` UInt8,
    `items_value` Int64,
    `seq` UInt8
)
AS WITH
    if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id)) AS actor
SELECT
    appspace_id,
    event_time,
    event_type,
    if(event_type = 'purchase', if(cart_id != '', cityHash64(cart_id), 0), cityHash64(if(cart_id != '', cart_id, actor))) AS cart_key,
    if(actor != '', cityHash64(actor), 0) AS actor_key,
    user_id,
    fraud_severity,
    if(event_type = 'purchase', 0, arraySum(arrayMap((price, quantity) -> (ifNull(price, 0) * quantity), items.price, items.quantity))) AS items_value,
    seq
FROM $database.events_ingest_local
WHERE (fraud_severity < 2) AND ((event_type = 'purchase') OR ((event_type IN ('add_to_cart', 'remove_from_cart')) AND (actor != '')));

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.cart_dirty_mv ON CLUSTER $cluster TO $database.cart_dirty_local
(
    `appspace_id` LowCardinality(String),
    `cart_key` UInt64,
    `actor_key` UInt64,
    `user_id` String,
    `first_moment` UInt64,
    `bought` UInt8,
    `inserted_at` DateTime64(3)
)
AS SELECT
    appspace_id,
    cart_key,
    actor_key,
    user_id,
    min((toUInt64(toUnixTimestamp64Milli(event_time)) * 256) + seq) AS first_moment,
    max(event_type = 'purchase') AS bought,
    now64(3) AS inserted_at
FROM $database.cart_activity_local
GROUP BY
    appspace_id,
    cart_key,
    actor_key,
    user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.event_items_mv ON CLUSTER $cluster TO $database.event_items_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_id` UUID,
    `event_type` LowCardinality(String),
    `user_id` String,
    `transaction_id` String,
    `item_id` String,
    `item_name` String,
    `item_category` String,
    `item_brand` String,
    `item_variant` String,
    `item_list_name` String,
    `item_list_id` String,
    `item_image_url` String,
    `price` Nullable(Int64),
    `price_original` Nullable(Decimal(38, 9)),
    `quantity` Int32,
    `currency` String,
    `coupon_code` String,
    `discount` Int64,
    `fraud_severity` UInt8,
    `actor` String,
    `cart_id` String
)
AS SELECT
    appspace_id,
    event_time,
    event_id,
    event_type,
    user_id,
    transaction_id,
    items.item_id AS item_id,
    items.item_name AS item_name,
    items.item_category AS item_category,
    items.item_brand AS item_brand,
    items.item_variant AS item_variant,
    items.item_list_name AS item_list_name,
    items.item_list_id AS item_list_id,
    items.item_image_url AS item_image_url,
    items.price AS price,
    items.price_original AS price_original,
    items.quantity AS quantity,
    items.currency AS currency,
    items.coupon_code AS coupon_code,
    items.discount AS discount,
    fraud_severity,
    if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id)) AS actor,
    cart_id
FROM $database.events_ingest_local
ARRAY JOIN items
WHERE fraud_severity < 2;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.event_properties_mv ON CLUSTER $cluster TO $database.event_properties_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_id` UUID,
    `event_type` LowCardinality(String),
    `user_id` String,
    `key` String,
    `value` String
)
AS SELECT
    appspace_id,
    event_time,
    event_id,
    event_type,
    user_id,
    property.1 AS key,
    property.2 AS value
FROM $database.events_ingest_local
ARRAY JOIN CAST(properties, 'Array(Tuple(String, String))') AS property
WHERE fraud_severity < 2;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.events_mv ON CLUSTER $cluster TO $database.events_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_id` UUID,
    `client_event_id` String,
    `event_type` LowCardinality(String),
    `user_id` String,
    `anonymous_id` String,
    `cart_id` String,
    `transaction_id` String,
    `revenue` Nullable(Int64),
    `discount` Int64,
    `shipping` Int64,
    `tax` Int64,
    `currency` LowCardinality(String),
    `revenue_original` Nullable(Decimal(38, 9)),
    `discount_original` Decimal(38, 9),
    `shipping_original` Decimal(38, 9),
    `tax_original` Decimal(38, 9),
    `fx_rate` Decimal(38, 18),
    `coupon_code` String,
    `properties` Map(String, String),
    `ip` String,
    `user_agent` String,
    `country` LowCardinality(String),
    `device_type` LowCardinality(String),
    `platform` LowCardinality(String),
    `locale` LowCardinality(String),
    `key_kind` LowCardinality(String),
    `fraud_severity` UInt8,
    `fraud_reasons` Array(String),
    `received_at` DateTime64(3, 'UTC')
)
AS SELECT * EXCEPT (`items.item_id`, `items.item_name`, `items.item_category`, `items.item_brand`, `items.item_variant`, `items.item_list_name`, `items.item_list_id`, `items.item_image_url`, `items.price`, `items.price_original`, `items.quantity`, `items.currency`, `items.coupon_code`, `items.discount`)
FROM $database.events_ingest_local
WHERE fraud_severity < 2;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.fraud_events_mv ON CLUSTER $cluster TO $database.fraud_events_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `audit_key` String,
    `caught_at` DateTime64(3, 'UTC'),
    `severity` UInt8,
    `reasons` Array(String),
    `event_type` LowCardinality(String),
    `user_id` String,
    `anonymous_id` String,
    `transaction_id` String,
    `event_id` String,
    `revenue` Nullable(Int64),
    `currency` LowCardinality(String),
    `ip` String,
    `user_agent` String,
    `key_kind` LowCardinality(String)
)
AS SELECT
    appspace_id,
    event_time,
    multiIf((transaction_id != '') AND (event_type IN ('purchase', 'refund')), concat(event_type, ':', transaction_id), client_event_id != '', concat('id:', client_event_id), replaceAll(toString(event_id), '-', '')) AS audit_key,
    received_at AS caught_at,
    fraud_severity AS severity,
    fraud_reasons AS reasons,
    event_type,
    user_id,
    anonymous_id,
    transaction_id,
    client_event_id AS event_id,
    revenue,
    currency,
    ip,
    user_agent,
    key_kind
FROM $database.events_ingest_local
WHERE fraud_severity > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.funnel_dirty_mv ON CLUSTER $cluster TO $database.funnel_dirty_local
(
    `appspace_id` LowCardinality(String),
    `actor_key` UInt64,
    `user_id` String,
    `first_moment` UInt64,
    `last_moment` UInt64,
    `clean_last_moment` UInt64,
    `inserted_at` DateTime64(3)
)
AS SELECT
    appspace_id,
    cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
    user_id,
    min((toUInt64(toUnixTimestamp64Milli(event_time)) * 256) + seq) AS first_moment,
    max((toUInt64(toUnixTimestamp64Milli(event_time)) * 256) + seq) AS last_moment,
    maxIf((toUInt64(toUnixTimestamp64Milli(event_time)) * 256) + seq, fraud_severity = 0) AS clean_last_moment,
    now64(3) AS inserted_at
FROM $database.events_ingest_local
WHERE ((user_id != '') OR (anonymous_id != '') OR (cart_id != '')) AND (fraud_severity < 2)
GROUP BY
    appspace_id,
    actor_key,
    user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.funnel_steps_mv ON CLUSTER $cluster TO $database.funnel_steps_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_type` LowCardinality(String),
    `actor_key` UInt64,
    `user_id` String,
    `fraud_severity` UInt8,
    `seq` UInt8
)
AS SELECT
    appspace_id,
    event_time,
    event_type,
    cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
    user_id,
    fraud_severity,
    seq
FROM $database.events_ingest_local
WHERE (event_type IN ('view_item', 'add_to_cart', 'view_cart', 'begin_checkout', 'add_payment_info', 'purchase')) AND ((user_id != '') OR (anonymous_id != '') OR (cart_id != '')) AND (fraud_severity < 2);

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.purchase_channels_mv ON CLUSTER $cluster TO $database.purchase_channels_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_id` UUID,
    `user_id` String,
    `revenue` Int64,
    `fraud_severity` UInt8,
    `own_channel` UInt64,
    `last_touch` UInt128,
    `last_clean_touch` UInt128,
    `seq` UInt8
)
AS SELECT
    appspace_id,
    event_time,
    event_id,
    user_id,
    ifNull(revenue, 0) AS revenue,
    fraud_severity,
    if(((properties['campaign']) != '') OR ((properties['utm_campaign']) != ''), cityHash64(if((properties['campaign']) != '', properties['campaign'], properties['utm_campaign']), if((properties['source']) != '', properties['source'], properties['utm_source']), if((properties['medium']) != '', properties['medium'], properties['utm_medium'])), 0) AS own_channel,
    toUInt128(0) AS last_touch,
    toUInt128(0) AS last_clean_touch,
    seq
FROM $database.events_ingest_local
WHERE (event_type = 'purchase') AND (fraud_severity < 2);

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.touch_channels_mv ON CLUSTER $cluster TO $database.touch_channels
(
    `appspace_id` LowCardinality(String),
    `channel_key` UInt64,
    `campaign` String,
    `source` String,
    `medium` String
)
AS SELECT DISTINCT
    appspace_id,
    cityHash64(campaign, source, medium) AS channel_key,
    campaign,
    source,
    medium
FROM $database.touches_local;

CREATE MATERIALIZED VIEW IF NOT EXISTS $database.touches_mv ON CLUSTER $cluster TO $database.touches_local
(
    `appspace_id` LowCardinality(String),
    `event_time` DateTime64(3, 'UTC'),
    `event_id` UUID,
    `event_type` LowCardinality(String),
    `user_id` String,
    `campaign` String,
    `source` String,
    `medium` String,
    `fraud_severity` UInt8,
    `seq` UInt8
)
AS SELECT
    appspace_id,
    event_time,
    event_id,
    event_type,
    user_id,
    if((properties['campaign']) != '', properties['campaign'], properties['utm_campaign']) AS campaign,
    if((properties['source']) != '', properties['source'], properties['utm_source']) AS source,
    if((properties['medium']) != '', properties['medium'], properties['utm_medium']) AS medium,
    fraud_severity,
    seq
FROM $database.events_ingest_local
WHERE (((properties['campaign']) != '') OR ((properties['utm_campaign']) != '')) AND (fraud_severity < 2);

