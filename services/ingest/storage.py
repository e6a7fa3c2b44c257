"""SQL owned by ingest: writing events (the materialized views fan out items, properties, touches and the fraud
audit), and the ClickHouse side of deduplication: used when Redis is unreachable, and for keys a stopped writer
left claimed."""

from __future__ import annotations

from collections.abc import Sequence

from carthouse.store import Store
from services.ingest.rows import EVENT_COLUMNS

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
