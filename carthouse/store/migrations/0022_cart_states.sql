-- Each cart judged (services/analytics/cart_states.py), so that cart abandonment over a long range sums carts
-- instead of grouping every cart event of the range: a row per cart, once over all its cart events (clean = 0) and
-- once over the unflagged ones (clean = 1), with its first and last cart event's moments (epoch ms x 256 + seq),
-- its last actor, whether it holds an add_to_cart (only such carts count), whether a purchase by the cart or by
-- that actor followed its first event, and the value left in it (base currency minor units, never below 0).
-- A background worker writes them; when it judges a cart again it writes the old row again with sign -1 beside
-- the new one with sign 1, so a sum of sign x anything over the rows is exact whether or not merges have folded
-- the pairs yet. judged_at, in the sort key, keeps a new row's key apart from the old row's, so that only a row
-- and its cancellation fold, whatever order one INSERT writes them in. user_id: the largest user id among the
-- cart's events, for deletion.
CREATE TABLE IF NOT EXISTS cart_states (
    appspace_id LowCardinality(String),
    clean UInt8,
    cart_key UInt64,
    user_id String,
    first_moment UInt64,
    last_moment UInt64,
    last_actor UInt64,
    has_add UInt8,
    completed UInt8,
    left_value Int128,
    judged_at DateTime64(6, 'UTC'),
    sign Int8
) ENGINE = CollapsingMergeTree(sign)
ORDER BY (appspace_id, clean, first_moment, cart_key, judged_at);

-- The carts and actors of each ingested group's cart events and purchases (cart_activity's rows), with the
-- earliest moment of their rows and whether the actor bought: whose carts a round of the worker judges again (a
-- cart of its own, or one whose last actor bought), and which carts a query judges from raw events (or, for a
-- purchase of the last actor, completes) until it has.
CREATE TABLE IF NOT EXISTS cart_dirty (
    appspace_id LowCardinality(String),
    cart_key UInt64,
    actor_key UInt64,
    user_id String,
    first_moment UInt64,
    bought UInt8,
    inserted_at DateTime64(3, 'UTC')
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (appspace_id, inserted_at)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS cart_dirty_mv TO cart_dirty AS
SELECT appspace_id, cart_key, actor_key, user_id,
       min(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq) AS first_moment,
       max(event_type = 'purchase') AS bought, now64(3) AS inserted_at
FROM cart_activity
GROUP BY appspace_id, cart_key, actor_key, user_id;

-- Where the worker's last round ended; no row until its first round has judged every cart.
CREATE TABLE IF NOT EXISTS cart_progress (
    done_until DateTime64(3, 'UTC')
) ENGINE = MergeTree
ORDER BY done_until;
