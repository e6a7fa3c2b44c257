"""SQL owned by ingest: writing events (the materialized views fan out items, properties, touches and the fraud
audit), writing again a group a stopped writer left unfinished, and the ClickHouse side of deduplication: used
when Redis is unreachable, and for keys a stopped writer left claimed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

import orjson

from carthouse.store import Store
from services.ingest.rows import EVENT_COLUMNS

# The tables the views fill from events_ingest (directly or from another's rows), by what a group written into
# them twice does (a test checks that every one is named once). Rows kept per event: the group's rows are deleted
# before it is written again, by event id where the table keeps it, else by the whole row as the table's own view
# makes it of the group.
KEPT_PER_EVENT_BY_ID = ("events", "event_items", "event_properties", "touches")
KEPT_PER_EVENT_BY_ROW = ("funnel_steps", "cart_activity")
# Rows that fold into one answer however often they are written (groupBitOr; any and max; a replacing key read
# with FINAL or any(); marks a round clears): writing the group again changes no answer.
FOLDED_ON_REPEAT = ("actor_hours", "purchase_channels", "fraud_events", "touch_channels", "attribution_dirty",
                    "funnel_dirty", "cart_dirty")
# Keys per DELETE: in cluster form the statement travels through Keeper, whose entries stay well under 1 MB.
KEYS_PER_DELETE = 5_000
_APPSPACE_ID = EVENT_COLUMNS.index("appspace_id")
_EVENT_ID = EVENT_COLUMNS.index("event_id")
_EVENT_TIME = EVENT_COLUMNS.index("event_time")
_READS_INGEST = re.compile(r"\bFROM\s+(?:\w+\.)?events_ingest(?:_local)?\b")
_THE_GROUP = "FROM format(JSONCompactEachRow, {structure:String}, {rows:String})"

RECENT_TRANSACTIONS = """
SELECT DISTINCT event_type, transaction_id
FROM events
WHERE appspace_id = {appspace:String}
  AND event_type IN ('purchase', 'refund')
  AND transaction_id IN {transactions:Array(String)}
  AND received_at >= now64(3) - INTERVAL 1 DAY
"""

RECENT_EVENT_IDS = """
SELECT DISTINCT client_event_id
FROM events
WHERE appspace_id = {appspace:String}
  AND client_event_id IN {ids:Array(String)}
  AND received_at >= now64(3) - INTERVAL 1 DAY
"""


def write_events(store: Store, lines: Sequence[bytes], dedup_token: str) -> None:
    """One INSERT for the whole group (the materialized views fan out items, properties, touches and the fraud
    audit of flagged and blocked rows); repeated with the same ``dedup_token`` after a failure, it writes only
    what the failed attempt did not."""
    store.insert_rows("events_ingest", EVENT_COLUMNS, lines, dedup_token)


def rewrite_events(store: Store, lines: Sequence[bytes]) -> None:
    """Write again a group a stopped writer left unfinished, so that every table holds it exactly once: its rows
    are deleted from the tables that keep rows per event, then it is inserted under a new token. Not under its own
    token: a table's deduplication log may name a block whose part the killed process never committed (the log of
    a non-replicated table is not atomic with the part), and that table would skip the block again."""
    group = [orjson.loads(line) for line in lines]
    times = [row[_EVENT_TIME] for row in group]
    # Every table's sort key starts with the appspace and most follow with the time: the deletes read only the
    # group's granules.
    span = {"appspaces": sorted({row[_APPSPACE_ID] for row in group}), "first": min(times), "last": max(times)}
    in_span = ("appspace_id IN {appspaces:Array(String)} AND "
               "event_time BETWEEN {first:DateTime64(3, 'UTC')} AND {last:DateTime64(3, 'UTC')}")
    for table in KEPT_PER_EVENT_BY_ID:
        _delete_keys(store, table, f"{in_span} AND event_id IN {{keys:Array(UUID)}}", span,
                     [row[_EVENT_ID] for row in group])
    types = dict(_column_types(store, "events_ingest"))
    the_group = {"structure": ", ".join(f"`{name}` {types[name]}" for name in EVENT_COLUMNS),
                 "rows": b"\n".join(lines).decode()}
    for table in KEPT_PER_EVENT_BY_ROW:
        columns = _column_types(store, table)
        row_key = "cityHash64(" + ", ".join(f"CAST(`{name}` AS {kind})" for name, kind in columns) + ")"
        _delete_keys(store, table, f"{in_span} AND {row_key} IN {{keys:Array(UInt64)}}", span,
                     _row_keys_of_group(store, table, row_key, the_group))
    write_events(store, lines, uuid.uuid4().hex)


def _delete_keys(store: Store, table: str, where: str, params: dict[str, object], keys: Sequence[object]) -> None:
    """Delete the table's rows matching ``where`` for ``keys``, where it holds any (a DELETE rewrites a mask of
    every part it touches, ~1 s for a year-long group on 10 M events; a count is a read)."""
    per_statement = KEYS_PER_DELETE if store.cluster else max(len(keys), 1)
    for start in range(0, len(keys), per_statement):
        bound = {**params, "keys": list(keys[start:start + per_statement])}
        if store.scalar(f"SELECT count() FROM {table} WHERE {where}", bound):
            store.execute(f"DELETE FROM {store.altered(table)} WHERE {where}", bound)


def _column_types(store: Store, table: str) -> list[tuple[str, str]]:
    """(name, type) of every column of the table, in order."""
    return [(c["name"], c["type"]) for c in store.query(
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {table:String} "
        "ORDER BY position", {"table": table})]


def _row_keys_of_group(store: Store, table: str, row_key: str, the_group: dict[str, str]) -> list[int]:
    """The row key (a hash of every column, each as the table stores it) of every row the table's view makes of
    the group: the view's own query, read from ``the_group`` (its lines and their structure) instead of
    events_ingest."""
    view = store.scalar("SELECT as_select FROM system.tables WHERE database = currentDatabase() AND "
                        "name = {view:String}", {"view": f"{table}_mv"})
    of_group, found = _READS_INGEST.subn(_THE_GROUP, view)
    if found != 1:
        raise RuntimeError(f"{table}_mv does not read events_ingest once: {view}")
    return [int(row["row_key"]) for row in store.query(f"SELECT {row_key} AS row_key FROM ({of_group})", the_group)]


def recent_transactions(store: Store, appspace_id: str, transaction_ids: Sequence[str]) -> set[tuple[str, str]]:
    if not transaction_ids:
        return set()
    rows = store.query(RECENT_TRANSACTIONS, {"appspace": appspace_id, "transactions": list(transaction_ids)})
    return {(row["event_type"], row["transaction_id"]) for row in rows}


def recent_event_ids(store: Store, appspace_id: str, event_ids: Sequence[str]) -> set[str]:
    if not event_ids:
        return set()
    rows = store.query(RECENT_EVENT_IDS, {"appspace": appspace_id, "ids": list(event_ids)})
    return {row["client_event_id"] for row in rows}
