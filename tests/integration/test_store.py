"""The store contract, on chdb and (when CLICKHOUSE_URL is set) on a ClickHouse server."""

import json
import re
import uuid
from datetime import timedelta

from carthouse.store import Store
from carthouse.store.chdb_backend import DEFAULT_CACHE_MB
from carthouse.store.migrate import migrate, migration_files
from services.analytics.last_touches import LOOKBACK_MS, store_round
from services.analytics.queries.funnel import STEPS

TABLES = {"appspaces", "api_keys", "events_ingest", "events", "event_items", "event_properties", "fx_rates",
          "schema_migrations"}


def test_migrations_create_every_table_and_rerun_as_no_ops(any_store: Store) -> None:
    tables = {row["name"] for row in any_store.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": any_store.database})}
    assert tables >= TABLES
    assert migrate(any_store) == []
    ledger = any_store.query("SELECT version FROM schema_migrations FINAL ORDER BY version")
    versions = [row["version"] for row in ledger]
    assert versions == [version for version, _, _ in migration_files()]


def test_tenant_id_leads_every_sorting_key(any_store: Store) -> None:
    # attribution_progress, funnel_progress and cart_progress hold one global mark each (how far a worker got), no
    # tenant's data.
    rows = any_store.query(
        "SELECT name, sorting_key FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'"
        " AND name NOT IN ('schema_migrations', 'appspaces', 'fx_rates', 'attribution_progress', 'funnel_progress',"
        " 'cart_progress')"
        " AND engine != 'Null'",
        {"db": any_store.database},
    )
    assert rows
    for row in rows:
        assert row["sorting_key"].startswith("appspace_id"), row


def test_scanned_tables_store_event_time_with_t64(any_store: Store) -> None:
    rows = any_store.query(
        "SELECT table, compression_codec FROM system.columns WHERE database = {db:String} AND name = 'event_time'"
        " AND table IN ('events', 'event_items', 'cart_activity', 'touches', 'funnel_steps') ORDER BY table",
        {"db": any_store.database},
    )
    assert [(row["table"], row["compression_codec"]) for row in rows] == [
        (table, "CODEC(T64, LZ4)") for table in ("cart_activity", "event_items", "events", "funnel_steps", "touches")]


def test_query_threads_are_the_clickhouse_default(any_store: Store) -> None:
    assert any_store.query_threads() == int(any_store.scalar("SELECT getSetting('max_threads')")) >= 1


def test_user_id_is_in_every_event_table(any_store: Store) -> None:
    for table in ("events", "event_items", "event_properties"):
        columns = {row["name"] for row in any_store.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
            {"db": any_store.database, "t": table})}
        assert "user_id" in columns, table


def test_parameters_are_bound_not_pasted(any_store: Store) -> None:
    hostile = "x'); DROP TABLE events; --\\ {fmt} %s \t\n"
    row = any_store.query("SELECT {v:String} AS v, {l:Array(String)} AS l",
                          {"v": hostile, "l": [hostile, "b"]})[0]
    assert row == {"v": hostile, "l": [hostile, "b"]}


def test_one_insert_writes_the_event_its_items_and_its_properties(any_store: Store) -> None:
    row = {
        "appspace_id": "as_store_test", "event_time": "2026-01-15 10:30:00.000",
        "event_id": "61f0c404-5cb3-11e7-907b-a6006ad3dba0", "event_type": "purchase", "user_id": "u1",
        "transaction_id": "o1", "revenue": 4999, "revenue_original": "49.99", "currency": "USD",
        "items.item_id": ["sku_1", "sku_2"], "items.item_name": ["T", "H"], "items.item_category": ["", ""],
        "items.item_brand": ["", ""], "items.item_variant": ["", ""], "items.item_list_name": ["", ""],
        "items.item_list_id": ["", ""], "items.item_image_url": ["", ""], "items.price": [2499, None],
        "items.price_original": ["24.99", None], "items.quantity": [2, 1], "items.currency": ["USD", "USD"],
        "items.coupon_code": ["", ""], "items.discount": [0, 0], "properties": {"campaign": "spring"},
    }
    any_store.insert_rows("events_ingest", list(row), [json.dumps(list(row.values())).encode()])
    params = {"a": "as_store_test"}
    assert any_store.query("SELECT revenue, revenue_original FROM events WHERE appspace_id = {a:String}",
                           params) == [{"revenue": 4999, "revenue_original": 49.99}]
    assert any_store.query(
        "SELECT item_id, price, quantity, user_id FROM event_items WHERE appspace_id = {a:String} ORDER BY item_id",
        params) == [{"item_id": "sku_1", "price": 2499, "quantity": 2, "user_id": "u1"},
                    {"item_id": "sku_2", "price": None, "quantity": 1, "user_id": "u1"}]
    assert any_store.query(
        "SELECT key, value, user_id FROM event_properties WHERE appspace_id = {a:String}",
        params) == [{"key": "campaign", "value": "spring", "user_id": "u1"}]


def _ingest_row(**fields: object) -> dict[str, object]:
    items = fields.pop("items", [])
    row: dict[str, object] = {"appspace_id": "as_cart_activity", "event_time": "2026-01-15 10:30:00.000",
                              "user_id": "", "anonymous_id": "", "cart_id": "", "fraud_severity": 0, **fields}
    row["items.item_id"] = [f"sku_{n}" for n in range(len(items))]
    row["items.price"] = [price for price, _ in items]
    row["items.quantity"] = [quantity for _, quantity in items]
    return row


def test_cart_activity_from_the_view_matches_its_backfill_of_older_rows(any_store: Store) -> None:
    _ingest(any_store, [
        # 500 x 2 + (no price) x 1 = 1000, an anonymous visitor's cart keyed by the visitor
        _ingest_row(event_type="add_to_cart", anonymous_id="a1", items=[(500, 2), (None, 1)]),
        _ingest_row(event_type="remove_from_cart", user_id="u1", cart_id="c1", items=[(300, 1)]),
        _ingest_row(event_type="purchase", user_id="u1", cart_id="c1", transaction_id="o1", revenue=300),
        _ingest_row(event_type="add_to_cart", user_id="u2", items=[(100, 1)], fraud_severity=2),  # blocked
        _ingest_row(event_type="view_item", user_id="u1", items=[(300, 1)]),
    ])
    columns = "event_type, cart_key, actor_key, user_id, items_value"
    from_view = _stored(any_store, "cart_activity", columns, "as_cart_activity")
    assert from_view == [
        {"event_type": "add_to_cart", "cart_key": _hash(any_store, "a1"), "actor_key": _hash(any_store, "a1"),
         "user_id": "", "items_value": 1000},
        {"event_type": "purchase", "cart_key": _hash(any_store, "c1"), "actor_key": _hash(any_store, "u1"),
         "user_id": "u1", "items_value": 0},
        {"event_type": "remove_from_cart", "cart_key": _hash(any_store, "c1"), "actor_key": _hash(any_store, "u1"),
         "user_id": "u1", "items_value": 300},
    ]
    assert _backfilled(any_store, 9, "cart_activity", columns, "as_cart_activity") == from_view


def test_funnel_steps_hold_the_steps_events_with_an_actor_from_the_view_and_its_backfill(any_store: Store) -> None:
    appspace = {"appspace_id": "as_funnel_steps"}
    _ingest(any_store, [
        _ingest_row(**appspace, event_type="view_item", anonymous_id="a1"),
        _ingest_row(**appspace, event_type="add_to_cart", user_id="u1", fraud_severity=1),  # flagged: kept
        _ingest_row(**appspace, event_type="purchase", user_id="u1", transaction_id="o1", revenue=300),
        _ingest_row(**appspace, event_type="search", user_id="u1"),  # not a funnel step
        _ingest_row(**appspace, event_type="view_item"),  # no actor
        _ingest_row(**appspace, event_type="begin_checkout", user_id="u2", fraud_severity=2),  # blocked
    ])
    columns = "event_type, actor_key, user_id, fraud_severity"
    from_view = _stored(any_store, "funnel_steps", columns, "as_funnel_steps")
    assert from_view == [
        {"event_type": "add_to_cart", "actor_key": _hash(any_store, "u1"), "user_id": "u1", "fraud_severity": 1},
        {"event_type": "purchase", "actor_key": _hash(any_store, "u1"), "user_id": "u1", "fraud_severity": 0},
        {"event_type": "view_item", "actor_key": _hash(any_store, "a1"), "user_id": "", "fraud_severity": 0},
    ]
    assert _backfilled(any_store, 15, "funnel_steps", columns, "as_funnel_steps") == from_view
    # The view and the backfill keep exactly the funnel's steps.
    sql = next(text for version, _, text in migration_files() if version == 15)
    assert re.findall(r"event_type IN \(([^)]*)\)", sql) == [", ".join(f"'{step}'" for step in STEPS)] * 2


def test_purchase_channels_keep_each_purchases_last_touch_from_the_worker_and_the_backfill(any_store: Store) -> None:
    appspace = "as_purchase_channels"

    def event(kind: str, at: str, user: str = "", campaign: str = "", **fields: object) -> dict[str, object]:
        properties = {"campaign": campaign, "source": "mail", "medium": "email"} if campaign else {}
        return {"appspace_id": appspace, "event_time": f"2026-{at}", "event_id": str(uuid.uuid4()),
                "event_type": kind, "user_id": user, "anonymous_id": "" if user else "a1", "revenue": None,
                "fraud_severity": 0, "properties": properties, **fields}

    # One INSERT per group, as ingest writes them: a touch in the same group as the purchase it precedes, later
    # groups with older touches (late arrivals), and a purchase with its own campaign.
    _ingest_group(any_store, [
        event("page_view", "01-15 09:00:00.000", "u1", "A"),
        event("purchase", "01-15 10:00:00.000", "u1", revenue=1000),
        event("purchase", "01-15 10:00:00.000", revenue=50),  # anonymous: no user, no touches
    ])
    _ingest_group(any_store, [
        event("page_view", "01-15 09:30:00.000", "u1", "B", fraud_severity=1),  # late and flagged
        event("page_view", "01-15 09:45:00.000", "u1", "Z", fraud_severity=2),  # blocked: never a touch
        event("page_view", "01-15 11:00:00.000", "u1", "C"),  # after the first purchase
    ])
    _ingest_group(any_store, [
        event("purchase", "01-15 12:00:00.000", "u1", "D", revenue=7),  # its own campaign, a touch itself
        event("purchase", "01-16 12:00:00.000", "u2", revenue=20, fraud_severity=1),  # flagged, no touches
    ])
    _ingest_group(any_store, [
        event("purchase", "02-14 12:00:00.000", "u1", revenue=9),  # D + 30 days: in
        event("purchase", "02-14 12:00:00.001", "u1", revenue=11),  # 1 ms later: out
    ])
    # The view stores each purchase with its own fields only; the worker's round adds its user's last touches.
    marked = any_store.query("SELECT DISTINCT user_id FROM attribution_dirty WHERE appspace_id = {a:String} "
                             "ORDER BY user_id", {"a": appspace})
    assert marked == [{"user_id": "u1"}, {"user_id": "u2"}]
    assert any_store.scalar("SELECT max(last_touch) FROM purchase_channels WHERE appspace_id = {a:String}",
                            {"a": appspace}) == 0
    assert store_round(any_store, margin=timedelta(0)) >= 2  # other tests' users may be marked too
    columns = ("user_id, revenue, fraud_severity, own_channel, "
               "toString(fromUnixTimestamp64Milli(toInt64(bitShiftRight(last_touch, 72)), 'UTC')) AS touch_at, "
               "bitAnd(last_touch, 0xFFFFFFFFFFFFFFFF) AS touch_channel, "
               "toString(fromUnixTimestamp64Milli(toInt64(bitShiftRight(last_clean_touch, 72)), 'UTC')) AS clean_at, "
               "bitAnd(last_clean_touch, 0xFFFFFFFFFFFFFFFF) AS clean_channel")
    any_store.execute("OPTIMIZE TABLE purchase_channels FINAL")  # the worker's rows fold into the view's
    from_view = _stored(any_store, "purchase_channels", columns, appspace, order_by="event_time, revenue")
    channel = {name: int(any_store.scalar("SELECT cityHash64({c:String}, 'mail', 'email')", {"c": name}))
               for name in "ABCD"}
    never = "1970-01-01 00:00:00.000"
    assert from_view == [
        {"user_id": "", "revenue": 50, "fraud_severity": 0, "own_channel": 0, "touch_at": never,
         "touch_channel": 0, "clean_at": never, "clean_channel": 0},
        {"user_id": "u1", "revenue": 1000, "fraud_severity": 0, "own_channel": 0,
         "touch_at": "2026-01-15 09:30:00.000", "touch_channel": channel["B"],
         "clean_at": "2026-01-15 09:00:00.000", "clean_channel": channel["A"]},
        {"user_id": "u1", "revenue": 7, "fraud_severity": 0, "own_channel": channel["D"],
         "touch_at": "2026-01-15 12:00:00.000", "touch_channel": channel["D"],
         "clean_at": "2026-01-15 12:00:00.000", "clean_channel": channel["D"]},
        {"user_id": "u2", "revenue": 20, "fraud_severity": 1, "own_channel": 0, "touch_at": never,
         "touch_channel": 0, "clean_at": never, "clean_channel": 0},
        {"user_id": "u1", "revenue": 9, "fraud_severity": 0, "own_channel": 0,
         "touch_at": "2026-01-15 12:00:00.000", "touch_channel": channel["D"],
         "clean_at": "2026-01-15 12:00:00.000", "clean_channel": channel["D"]},
        {"user_id": "u1", "revenue": 11, "fraud_severity": 0, "own_channel": 0, "touch_at": never,
         "touch_channel": 0, "clean_at": never, "clean_channel": 0},
    ]
    assert _backfilled(any_store, 16, "purchase_channels", columns, appspace,
                       order_by="event_time, revenue") == from_view
    # The backfill looks back as far as the worker and revenue-by-channel (last_touches.LOOKBACK_MS).
    sql = next(text for version, _, text in migration_files() if version == 16)
    assert sql.count(f"- {LOOKBACK_MS}") == 2


def _ingest(store: Store, rows: list[dict[str, object]]) -> None:
    for row in rows:
        _ingest_group(store, [row])


def _ingest_group(store: Store, rows: list[dict[str, object]]) -> None:
    """The rows (all with the same fields) in one INSERT, as ingest writes a group."""
    store.insert_rows("events_ingest", list(rows[0]), [json.dumps(list(row.values())).encode() for row in rows])


def _stored(store: Store, table: str, columns: str, appspace_id: str,
            order_by: str = "event_type") -> list[dict[str, object]]:
    return store.query(f"SELECT {columns} FROM {table} WHERE appspace_id = {{a:String}} ORDER BY {order_by}",
                       {"a": appspace_id})


def _backfilled(store: Store, version: int, table: str, columns: str, appspace_id: str,
                order_by: str = "event_type") -> list[dict[str, object]]:
    """The rows migration `version` writes into `table` from the events stored before it (its guards aside)."""
    store.execute(f"CREATE TABLE IF NOT EXISTS {table}_backfill AS {table}")
    # The table as the migration found it: without the columns later migrations added.
    store.execute(f"ALTER TABLE {table}_backfill DROP COLUMN IF EXISTS seq")  # migration 0017
    for column in ("touches", "clean_touches"):  # migration 0021
        store.execute(f"ALTER TABLE {table}_backfill DROP COLUMN IF EXISTS {column}")
    migrations = migration_files()
    sql = next(text for number, _, text in migrations if number == version)
    for statement in [s for s in sql.split(";") if f"INSERT INTO {table}" in s]:
        body = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
        body = body.replace(f"INSERT INTO {table}", f"INSERT INTO {table}_backfill")
        body = re.sub(rf"\(SELECT count\(\) FROM {table}[^)]*\) = 0", "1", body)
        store.execute(body.replace("WHERE ", f"WHERE appspace_id = '{appspace_id}' AND ", 1))
    # Later migrations' rewrites of the rows stored before them (0017: the packing of last touches).
    for text in [text for number, _, text in migrations if number > version]:
        for statement in text.split(";"):
            body = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()
            if body.startswith(f"ALTER TABLE {table}\nUPDATE"):
                store.execute(body.replace(f"ALTER TABLE {table}", f"ALTER TABLE {table}_backfill", 1))
    return _stored(store, f"{table}_backfill", columns, appspace_id, order_by)


def _hash(store: Store, text: str) -> int:
    return int(store.scalar("SELECT cityHash64({t:String})", {"t": text}))


def test_chdb_keeps_decompressed_blocks_of_large_reads_in_memory(store: Store) -> None:
    """The embedded engine's cache of decompressed blocks (1 GiB by default), used for reads up to the cache's
    size: a month of a large shop is far more than ClickHouse's default limit of 1 M rows."""
    size = DEFAULT_CACHE_MB * 1024 * 1024
    assert store.scalar("SELECT value FROM system.server_settings WHERE name = 'uncompressed_cache_size'") == str(size)
    assert store.query("SELECT getSetting('use_uncompressed_cache') AS used, "
                       "getSetting('merge_tree_max_bytes_to_use_cache') AS bytes") == [{"used": 1, "bytes": size}]
