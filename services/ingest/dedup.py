"""24-hour deduplication: purchases/refunds by transaction_id, any event by event_id.

Redis SET NX claims each key atomically, so concurrent replicas agree. When Redis is unreachable,
purchases and refunds are checked against ClickHouse instead, so revenue is never double counted.
Callers run this from the single writer thread, which also makes the fallback race-free in a process.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence

import redis

from carthouse.store import Store
from services.ingest.rows import DEDUP_TTL_SECONDS, StoredEvent
from services.ingest.storage import recent_transactions

log = logging.getLogger("carthouse.ingest.dedup")


class Deduplicator:
    def __init__(self, client: redis.Redis, store: Store) -> None:
        self._client = client
        self._store = store
        self._last_warning = 0.0

    def filter(self, events: Sequence[StoredEvent]) -> tuple[list[StoredEvent], list[str]]:
        """(events to store, dedup keys this call claimed: release them if the write fails)."""
        keys = [key for event in events for key in event.dedup_keys]
        if not keys:
            return list(events), []
        try:
            return self._filter_with_redis(events, keys)
        except redis.RedisError as exc:
            self._warn(f"Redis unavailable, deduplicating purchases and refunds through ClickHouse: {exc}")
            return self._filter_with_store(events), []

    def release(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            self._client.delete(*keys)
        except redis.RedisError as exc:
            log.error("could not release %d dedup keys after a failed write: %s", len(keys), exc)

    def _filter_with_redis(self, events: Sequence[StoredEvent], keys: list[str]) -> tuple[list[StoredEvent], list[str]]:
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, b"1", nx=True, ex=DEDUP_TTL_SECONDS)
        claimed_flags = iter(pipe.execute())
        fresh: list[StoredEvent] = []
        claimed: list[str] = []
        for event in events:
            flags = [next(claimed_flags) for _ in event.dedup_keys]
            claimed.extend(key for key, flag in zip(event.dedup_keys, flags, strict=True) if flag)
            if all(flags):
                fresh.append(event)
        return fresh, claimed

    def _filter_with_store(self, events: Sequence[StoredEvent]) -> list[StoredEvent]:
        by_appspace: dict[str, list[str]] = defaultdict(list)
        for event in events:
            if event.transaction:
                by_appspace[event.appspace_id].append(event.transaction[1])
        seen: set[tuple[str, str, str]] = set()
        for appspace_id, transaction_ids in by_appspace.items():
            for kind, txn in recent_transactions(self._store, appspace_id, transaction_ids):
                seen.add((appspace_id, kind, txn))
        seen_keys: set[str] = set()
        fresh = []
        for event in events:
            if event.transaction and (event.appspace_id, *event.transaction) in seen:
                continue
            if any(key in seen_keys for key in event.dedup_keys):
                continue
            seen_keys.update(event.dedup_keys)
            fresh.append(event)
        return fresh

    def _warn(self, message: str) -> None:
        if time.monotonic() - self._last_warning > 10:
            self._last_warning = time.monotonic()
            log.warning(message)
