-- Ingest writes a group of events with one INSERT into events_ingest, whose materialized views fill these
-- tables one after another. If one of them fails, ingest repeats the INSERT with the same
-- insert_deduplication_token: tables that already hold the block skip it, the others get it, so a group is
-- never left half-written nor stored twice. Non-replicated MergeTree tables deduplicate only with a window.
ALTER TABLE events MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE event_items MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE event_properties MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE touches MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE fraud_events MODIFY SETTING non_replicated_deduplication_window = 1000;
