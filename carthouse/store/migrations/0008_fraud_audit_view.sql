-- The fraud audit is filled by a materialized view of events_ingest, so a group's events and its audit rows
-- are one INSERT with one deduplication token (before, the audit was a second INSERT per group, which cost
-- ingest a part and a merge per group). Ingest hands over blocked events with fraud_severity = 2: they reach
-- fraud_events only; the analytics tables' views now leave them out.
CREATE MATERIALIZED VIEW IF NOT EXISTS fraud_events_mv TO fraud_events AS
SELECT appspace_id, event_time,
       -- A re-sent event replaces its earlier audit row; one nothing identifies gets a row of its own.
       multiIf(transaction_id != '' AND event_type IN ('purchase', 'refund'), concat(event_type, ':', transaction_id),
               client_event_id != '', concat('id:', client_event_id),
               replaceAll(toString(event_id), '-', '')) AS audit_key,
       received_at AS caught_at, fraud_severity AS severity, fraud_reasons AS reasons, event_type, user_id,
       anonymous_id, transaction_id, client_event_id AS event_id, revenue, currency, ip, user_agent, key_kind
FROM events_ingest
WHERE fraud_severity > 0;

DROP VIEW IF EXISTS events_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS events_mv TO events AS
SELECT * EXCEPT (`items.item_id`, `items.item_name`, `items.item_category`, `items.item_brand`,
    `items.item_variant`, `items.item_list_name`, `items.item_list_id`, `items.item_image_url`, `items.price`,
    `items.price_original`, `items.quantity`, `items.currency`, `items.coupon_code`, `items.discount`)
FROM events_ingest
WHERE fraud_severity < 2;

DROP VIEW IF EXISTS event_items_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS event_items_mv TO event_items AS
SELECT
    appspace_id, event_time, event_id, event_type, user_id, transaction_id,
    items.item_id AS item_id, items.item_name AS item_name, items.item_category AS item_category,
    items.item_brand AS item_brand, items.item_variant AS item_variant,
    items.item_list_name AS item_list_name, items.item_list_id AS item_list_id,
    items.item_image_url AS item_image_url, items.price AS price, items.price_original AS price_original,
    items.quantity AS quantity, items.currency AS currency, items.coupon_code AS coupon_code,
    items.discount AS discount, fraud_severity,
    if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id)) AS actor, cart_id
FROM events_ingest
ARRAY JOIN items
WHERE fraud_severity < 2;

DROP VIEW IF EXISTS event_properties_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS event_properties_mv TO event_properties AS
SELECT appspace_id, event_time, event_id, event_type, user_id, property.1 AS key, property.2 AS value
FROM events_ingest
ARRAY JOIN CAST(properties, 'Array(Tuple(String, String))') AS property
WHERE fraud_severity < 2;

DROP VIEW IF EXISTS touches_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS touches_mv TO touches AS
SELECT appspace_id, event_time, event_id, event_type, user_id,
       if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']) AS campaign,
       if(properties['source'] != '', properties['source'], properties['utm_source']) AS source,
       if(properties['medium'] != '', properties['medium'], properties['utm_medium']) AS medium,
       fraud_severity
FROM events_ingest
WHERE (properties['campaign'] != '' OR properties['utm_campaign'] != '') AND fraud_severity < 2;
