-- Each actor's last add to cart beside its funnel reach (services/analytics/funnel_reach.py), over all its step
-- events and over the unflagged ones, as a moment (epoch ms x 256 + seq; 0: none). With reach_1, its last product
-- view, it answers the overview's distinct carting and viewing actors of a range that no stored step event passes
-- beyond (every range ending today): an actor did it in the range exactly when its last one is at or after the
-- range's start (services/analytics/queries/revenue.py). Merged with max(), as the reach.
ALTER TABLE funnel_reach ADD COLUMN IF NOT EXISTS last_cart SimpleAggregateFunction(max, UInt64);
ALTER TABLE funnel_reach ADD COLUMN IF NOT EXISTS clean_last_cart SimpleAggregateFunction(max, UInt64);

-- Actors stored before this migration (skipped when it already ran: a rerun after a crash; rows whose reach is 0
-- change no reach, as merges keep the largest).
INSERT INTO funnel_reach (appspace_id, actor_key, user_id, last_cart, clean_last_cart)
SELECT appspace_id, actor_key, any(user_id),
       maxIf(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq, event_type = 'add_to_cart'),
       maxIf(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq, event_type = 'add_to_cart' AND fraud_severity = 0)
FROM funnel_steps
WHERE event_type = 'add_to_cart' AND (SELECT max(last_cart) FROM funnel_reach) = 0
GROUP BY appspace_id, actor_key;
