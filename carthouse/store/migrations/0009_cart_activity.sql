-- Cart abandonment's narrow table: a row per add_to_cart / remove_from_cart (with the value of its items) and
-- per purchase, carts and actors keyed by 64-bit hashes (as services/analytics/queries/scope.py ACTOR_KEY
-- explains). Grouping a month of a large shop's carts from event_items' strings took 117 ms on 10 M events,
-- from here 33 ms (docs/PERFORMANCE.md). Filled by a materialized view of events_ingest, like touches.
CREATE TABLE IF NOT EXISTS cart_activity (
    appspace_id LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    event_type LowCardinality(String),
    -- A cart event's cart: cityHash64 of cart_id, else of the actor. A purchase's: cityHash64(cart_id), 0 if none.
    cart_key UInt64,
    -- cityHash64 of the actor (user_id, else anonymous_id, else cart_id); 0 if none.
    actor_key UInt64,
    user_id String,
    fraud_severity UInt8,
    -- A cart event's items: sum of price x quantity (base currency minor units); 0 for a purchase.
    items_value Int64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (appspace_id, event_type, event_time)
SETTINGS non_replicated_deduplication_window = 1000;

-- Events stored before this migration (each step skipped when it already ran: a rerun after a crash).
INSERT INTO cart_activity
SELECT appspace_id, event_time, event_type, cityHash64(if(cart_id != '', cart_id, actor)), cityHash64(actor),
       user_id, fraud_severity, sum(ifNull(price, 0) * quantity)
FROM event_items
WHERE event_type IN ('add_to_cart', 'remove_from_cart') AND actor != '' AND (SELECT count() FROM cart_activity) = 0
GROUP BY appspace_id, event_time, event_id, event_type, cart_id, actor, user_id, fraud_severity;

INSERT INTO cart_activity
SELECT appspace_id, event_time, event_type, if(cart_id != '', cityHash64(cart_id), 0),
       if(actor != '', cityHash64(actor), 0), user_id, fraud_severity, 0
FROM events
WHERE event_type = 'purchase' AND (SELECT count() FROM cart_activity WHERE event_type = 'purchase') = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS cart_activity_mv TO cart_activity AS
WITH if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id)) AS actor
SELECT appspace_id, event_time, event_type,
       if(event_type = 'purchase', if(cart_id != '', cityHash64(cart_id), 0),
          cityHash64(if(cart_id != '', cart_id, actor))) AS cart_key,
       if(actor != '', cityHash64(actor), 0) AS actor_key, user_id, fraud_severity,
       if(event_type = 'purchase', 0,
          arraySum(arrayMap((price, quantity) -> ifNull(price, 0) * quantity, items.price, items.quantity)))
           AS items_value
FROM events_ingest
WHERE fraud_severity < 2
  AND (event_type = 'purchase' OR (event_type IN ('add_to_cart', 'remove_from_cart') AND actor != ''));
