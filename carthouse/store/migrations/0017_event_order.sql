-- The order a client sent its events in: `seq` is an event's index in its Track or Batch request (0 for Track).
-- Events sent without a timestamp share the request's time, so every ordering of events of equal time (the user
-- journey, attribution, the funnel, revenue-by-channel's last touch, carts) breaks the tie by seq: a batch
-- [view_item, add_to_cart, purchase] stays in that order, and a touch sent after a purchase in the same batch
-- does not count for it. Rows stored before have seq 0.
ALTER TABLE events_ingest ADD COLUMN IF NOT EXISTS seq UInt8;
-- events_mv selects every column of events_ingest but the items: it carries seq without being recreated.
ALTER TABLE events ADD COLUMN IF NOT EXISTS seq UInt8;
ALTER TABLE touches ADD COLUMN IF NOT EXISTS seq UInt8;
ALTER TABLE funnel_steps ADD COLUMN IF NOT EXISTS seq UInt8;
ALTER TABLE cart_activity ADD COLUMN IF NOT EXISTS seq UInt8;
ALTER TABLE purchase_channels ADD COLUMN IF NOT EXISTS seq SimpleAggregateFunction(any, UInt8);

DROP VIEW IF EXISTS touches_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS touches_mv TO touches AS
SELECT appspace_id, event_time, event_id, event_type, user_id,
       if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']) AS campaign,
       if(properties['source'] != '', properties['source'], properties['utm_source']) AS source,
       if(properties['medium'] != '', properties['medium'], properties['utm_medium']) AS medium,
       fraud_severity, seq
FROM events_ingest
WHERE (properties['campaign'] != '' OR properties['utm_campaign'] != '') AND fraud_severity < 2;

DROP VIEW IF EXISTS funnel_steps_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_steps_mv TO funnel_steps AS
SELECT appspace_id, event_time, event_type,
       cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))) AS actor_key,
       user_id, fraud_severity, seq
FROM events_ingest
-- Blocked events (fraud_severity 2) reach the fraud audit only, as in every analytics table (migration 0008).
WHERE event_type IN ('view_item', 'add_to_cart', 'view_cart', 'begin_checkout', 'add_payment_info', 'purchase')
  AND (user_id != '' OR anonymous_id != '' OR cart_id != '') AND fraud_severity < 2;

DROP VIEW IF EXISTS cart_activity_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS cart_activity_mv TO cart_activity AS
WITH if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id)) AS actor
SELECT appspace_id, event_time, event_type,
       if(event_type = 'purchase', if(cart_id != '', cityHash64(cart_id), 0),
          cityHash64(if(cart_id != '', cart_id, actor))) AS cart_key,
       if(actor != '', cityHash64(actor), 0) AS actor_key, user_id, fraud_severity,
       if(event_type = 'purchase', 0,
          arraySum(arrayMap((price, quantity) -> ifNull(price, 0) * quantity, items.price, items.quantity)))
           AS items_value,
       seq
FROM events_ingest
WHERE fraud_severity < 2
  AND (event_type = 'purchase' OR (event_type IN ('add_to_cart', 'remove_from_cart') AND actor != ''));

DROP VIEW IF EXISTS purchase_channels_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS purchase_channels_mv TO purchase_channels AS
SELECT appspace_id, event_time, event_id, user_id, ifNull(revenue, 0) AS revenue, fraud_severity,
       if(properties['campaign'] != '' OR properties['utm_campaign'] != '',
          cityHash64(if(properties['campaign'] != '', properties['campaign'], properties['utm_campaign']),
                     if(properties['source'] != '', properties['source'], properties['utm_source']),
                     if(properties['medium'] != '', properties['medium'], properties['utm_medium'])),
          0) AS own_channel,
       toUInt128(0) AS last_touch, toUInt128(0) AS last_clean_touch, seq
FROM events_ingest
-- Blocked events (fraud_severity 2) reach the fraud audit only, as in every analytics table (migration 0008).
WHERE event_type = 'purchase' AND fraud_severity < 2;

-- Stored last touches were packed as (time in ms << 64) | channel key, and are now (time in ms << 72) | (seq << 64)
-- | channel key (services/analytics/last_touches.py packed_touch). A value of the old form is below 2^105 (times
-- before 2039), one of the new form above 2^112, so a rerun leaves converted values alone.
ALTER TABLE purchase_channels
UPDATE last_touch = if(bitShiftRight(last_touch, 105) = 0,
                       bitOr(bitShiftLeft(bitShiftRight(last_touch, 64), 72),
                             bitAnd(last_touch, toUInt128('18446744073709551615'))), last_touch),
       last_clean_touch = if(bitShiftRight(last_clean_touch, 105) = 0,
                             bitOr(bitShiftLeft(bitShiftRight(last_clean_touch, 64), 72),
                                   bitAnd(last_clean_touch, toUInt128('18446744073709551615'))), last_clean_touch)
WHERE (last_touch != 0 AND bitShiftRight(last_touch, 105) = 0)
   OR (last_clean_touch != 0 AND bitShiftRight(last_clean_touch, 105) = 0)
SETTINGS mutations_sync = 2;

-- Every derived table of an ingested group is covered by the same deduplication window (migration 0007), so a
-- repeated INSERT cannot add a second copy to any of them.
ALTER TABLE touch_channels MODIFY SETTING non_replicated_deduplication_window = 1000;
