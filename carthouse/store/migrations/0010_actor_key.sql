-- The actor's 64-bit key (services/analytics/queries/scope.py ACTOR_KEY) stored with each event: distinct
-- actors are counted and grouped by it, and reading 8 bytes is cheaper than reading and hashing the string
-- (10 M events: overview's actor counts 83 -> 66 ms, the direct channel's 146 -> 112 ms). Rows written before
-- compute it on read until the background mutation below has rewritten their parts.
ALTER TABLE events ADD COLUMN IF NOT EXISTS actor_key UInt64 MATERIALIZED cityHash64(actor);
ALTER TABLE events MATERIALIZE COLUMN actor_key;
