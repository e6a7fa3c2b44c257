-- Who did it (user_id, else anonymous_id, else cart_id), computed once when a row is written instead of in
-- every analytics query; event_items also gets the actor and cart_id, so cart values need no join back to
-- events. Rows written before this migration compute events.actor on read until merged.
ALTER TABLE events ADD COLUMN IF NOT EXISTS actor String
    MATERIALIZED if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id));
ALTER TABLE event_items ADD COLUMN IF NOT EXISTS actor String;
ALTER TABLE event_items ADD COLUMN IF NOT EXISTS cart_id String;
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
