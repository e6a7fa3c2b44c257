"""Migration 0018 on a store holding data under the monthly partitions: every row kept, the keys yearly, the
views still feeding the rebuilt tables, and a rerun (as after a crash) changing nothing."""

from __future__ import annotations

import importlib
from pathlib import Path

from carthouse.store.chdb_backend import ChdbStore
from carthouse.store.migrate import migrate, migration_files

rebuild = importlib.import_module("carthouse.store.migrations.0018_yearly_partitions")
ROW_COUNTS = ("SELECT (SELECT count() FROM events) AS events, (SELECT count() FROM event_items) AS items, "
              "(SELECT count() FROM touches) AS touches, (SELECT sum(revenue) FROM events) AS revenue, "
              "(SELECT count() FROM funnel_steps) AS steps")


def insert(store: ChdbStore, transaction: str, moment: str) -> None:
    store.execute(
        "INSERT INTO events_ingest (appspace_id, event_time, client_event_id, event_type, user_id, transaction_id, "
        "revenue, currency, properties, `items.item_id`, `items.price`, `items.quantity`, received_at) VALUES "
        "('as_y', {t:DateTime64(3, 'UTC')}, {id:String}, 'purchase', 'u1', {id:String}, 1250, 'USD', "
        "map('campaign', 'spring'), ['sku'], [1250], [1], now64(3))", {"t": moment, "id": transaction})


def test_rows_survive_the_rebuild_and_the_views_feed_the_new_tables(session_dir: Path) -> None:
    # chdb hosts one engine per process: a database of its own in the suite's data directory.
    store = ChdbStore(session_dir / "chdb", "yearly", pool_size=1)
    store.create_database()
    before_0018 = [v for v, _, _ in migration_files() if v < 18]
    store.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at "
                  "DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version")
    # The schema as it was before 0018, with history in three months of two years.
    for version, name, sql in migration_files():
        if version in before_0018:
            for statement in [s.strip() for s in "\n".join(
                    line for line in sql.splitlines() if not line.strip().startswith("--")).split(";") if s.strip()]:
                store.execute(statement)
            store.execute("INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
                          {"v": version, "n": name})
    for number, moment in enumerate(["2025-11-03 10:00:00", "2025-12-24 18:00:00", "2026-02-01 08:30:00"]):
        insert(store, f"y{number}", moment)
    monthly = store.query("SELECT partition_key FROM system.tables WHERE database = 'yearly' AND name = 'events'")
    assert monthly == [{"partition_key": "toYYYYMM(event_time)"}]
    counts = store.query(ROW_COUNTS)
    assert counts == [{"events": 3, "items": 3, "touches": 3, "revenue": 3750, "steps": 3}]

    assert migrate(store) == [v for v, _, _ in migration_files() if v >= 18]
    keys = {r["name"]: r["partition_key"] for r in store.query(
        "SELECT name, partition_key FROM system.tables WHERE database = 'yearly' AND partition_key != ''")}
    assert keys["events"] == "toYear(event_time)" and keys["actor_hours"] == "toYear(hour)"
    assert keys["attribution_dirty"] == "toYYYYMMDD(inserted_at)"  # a daily key stays: its days are dropped
    assert store.query(ROW_COUNTS) == counts
    parts = store.query("SELECT DISTINCT partition FROM system.parts WHERE database = 'yearly' "
                        "AND table = 'events' AND active ORDER BY partition")
    assert [p["partition"] for p in parts] == ["2025", "2026"]
    insert(store, "y3", "2026-03-01 09:00:00")  # the views feed the rebuilt tables
    assert store.query(ROW_COUNTS) == [{"events": 4, "items": 4, "touches": 4, "revenue": 5000, "steps": 4}]
    rebuild.apply(store)  # a rerun finds nothing to do
    assert store.query(ROW_COUNTS)[0]["events"] == 4
    assert not store.query("SELECT name FROM system.tables WHERE database = 'yearly' AND name LIKE '%rebuilt'")
    store.drop_database()
