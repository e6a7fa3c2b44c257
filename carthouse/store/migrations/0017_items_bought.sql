-- Items bought, stored on each purchase's event row: Σ quantity of its items (0 on other events). The overview
-- counts items sold from it in the same scan as revenue and orders, instead of a third statement over
-- event_items (its fixed cost of parsing and planning was more than half of that statement's; overview ~7 %
-- faster at p50, 9 ms less CPU a call on 10 M events, docs/PERFORMANCE.md). An event and its items arrive in one
-- INSERT with one deduplication token (migration 0007), so the column and event_items always agree.
ALTER TABLE events ADD COLUMN IF NOT EXISTS items_bought Int64;

DROP VIEW IF EXISTS events_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS events_mv TO events AS
SELECT * EXCEPT (`items.item_id`, `items.item_name`, `items.item_category`, `items.item_brand`,
    `items.item_variant`, `items.item_list_name`, `items.item_list_id`, `items.item_image_url`, `items.price`,
    `items.price_original`, `items.quantity`, `items.currency`, `items.coupon_code`, `items.discount`),
    if(event_type = 'purchase', toInt64(arraySum(`items.quantity`)), 0) AS items_bought
FROM events_ingest
WHERE fraud_severity < 2;

-- Purchases stored before this migration, from their items (a rerun after a crash finds the rows it already set,
-- and those written since by the view, equal to what it would set). ALTER UPDATE cannot read another table but
-- through a function: joinGet on a Join table, dropped after, named with its database (the mutation runs without
-- a current one, migrate.py binds {database}). MergeTree tables, not replicated: the mutation runs once, so
-- joinGet's being non-deterministic across replicas does not apply.
CREATE TABLE IF NOT EXISTS items_bought_backfill ENGINE = Join(ANY, LEFT, event_id) AS
SELECT event_id, toInt64(sum(quantity)) AS quantity FROM event_items WHERE event_type = 'purchase' GROUP BY event_id;

ALTER TABLE events UPDATE items_bought = joinGet(concat({database:String}, '.items_bought_backfill'), 'quantity', event_id)
WHERE event_type = 'purchase' AND items_bought = 0
SETTINGS mutations_sync = 2, allow_nondeterministic_mutations = 1;

DROP TABLE IF EXISTS items_bought_backfill;
