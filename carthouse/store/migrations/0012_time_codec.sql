-- Event times of the tables analytics scans stored with T64 before LZ4. Rows are sorted by time within an
-- appspace and event type, so T64 leaves LZ4 few, long matches; plain LZ4 on the raw 8 bytes decompressed at
-- ~15 ns a value on the 2-vCPU bench machine, T64 + LZ4 at ~5 ns, at about the same size on disk. Reading
-- event_time was the largest single cost of a month's funnel and overview (10 M events: funnel 141 -> 128 ms,
-- overview's actor counts 70 -> 64 ms; docs/PERFORMANCE.md). Parts written before take the codec when they are
-- merged.
ALTER TABLE events MODIFY COLUMN event_time CODEC(T64, LZ4);
ALTER TABLE event_items MODIFY COLUMN event_time CODEC(T64, LZ4);
ALTER TABLE cart_activity MODIFY COLUMN event_time CODEC(T64, LZ4);
ALTER TABLE touches MODIFY COLUMN event_time CODEC(T64, LZ4);
