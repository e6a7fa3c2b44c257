"""The store interface every backend implements."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

log = logging.getLogger("carthouse.store")

Row = dict[str, Any]
Params = Mapping[str, Any]

SLOW_QUERY_SECONDS = 1.0
# An INSERT's rows reach tables and materialized views as one block, whatever their size (ClickHouse otherwise
# cuts blocks at 256 MiB): one part per table for each INSERT, which the deduplication token then names whole.
ONE_BLOCK = "min_insert_block_size_bytes = 0"
# The materialized views of an INSERT write their tables side by side instead of one after another. Every view
# reads only the inserted block (touch_channels' reads touches' block and cart_dirty's cart_activity's, each in
# its own chain), so none depends on another's rows. An INSERT's cost is mostly fixed (a part of a dozen files in
# each of thirteen tables), and on the benchmark machine's disk a file operation waits ~0.3 ms: side by side, a
# 2,500-row INSERT took 126-140 ms instead of 207-237 and a 10,000-row one 281 instead of 399
# (docs/PERFORMANCE.md, "Views side by side").
VIEWS_SIDE_BY_SIDE = "parallel_view_processing = 1"


class StoreError(RuntimeError):
    """ClickHouse rejected a statement (a bug in our SQL or data, not the caller's)."""


class StoreUnavailable(StoreError):
    """ClickHouse cannot be reached or cannot write right now; the caller may retry."""


class Store(ABC):
    """A ClickHouse database: run statements, read rows as dicts, insert JSON rows."""

    backend: str = ""
    # An identity only one live process can hold ('' if the backend has none): the embedded engine's data
    # directory. Whoever held it before is known to be dead (the ingest writer retires its dedup claims).
    exclusive_slot: str = ""

    def __init__(self, database: str, cluster: str = "") -> None:
        self.database = database
        # The ClickHouse cluster the schema is on in cluster form (carthouse/store/cluster.py), or "".
        self.cluster = cluster
        self._query_threads = 0

    def altered(self, table: str) -> str:
        """What an ALTER TABLE that changes ``table``'s rows names: the table itself, or in cluster form the
        tables that hold its rows, on every node."""
        if not self.cluster:
            return table
        from carthouse.store.cluster import EVERYWHERE

        return f"{table if table in EVERYWHERE else table + '_local'} ON CLUSTER {self.cluster}"

    def query_threads(self) -> int:
        """Threads ClickHouse gives a query by default (its max_threads: the cores it runs on), asked once."""
        if not self._query_threads:
            self._query_threads = int(self.scalar("SELECT getSetting('max_threads')"))
        return self._query_threads

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a SELECT and return its rows as dicts (JSON types: numbers, strings, lists)."""
        return self._timed(sql, lambda: self._query(sql, params or {}))

    def execute(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns nothing (DDL, ALTER, INSERT ... SELECT)."""
        self._timed(sql, lambda: self._execute(sql, params or {}))

    def insert_rows(self, table: str, columns: Sequence[str], lines: Iterable[bytes], dedup_token: str = "") -> None:
        """Insert rows encoded as JSON arrays in ``columns`` order (JSONCompactEachRow) in one statement: one
        part per table and per materialized view it feeds. The views write side by side, not as one transaction,
        so a failure can leave some written and not others; repeating the insert with the same ``dedup_token``
        writes only what is missing (tables keep a deduplication window, migration 0007)."""
        payload = b"\n".join(lines).decode()
        if payload:
            settings = [ONE_BLOCK, VIEWS_SIDE_BY_SIDE]
            if dedup_token:
                settings += [f"insert_deduplication_token = '{dedup_token}'",
                             "deduplicate_blocks_in_dependent_materialized_views = 1"]
            statement = (f"INSERT INTO {table} ({', '.join(f'`{c}`' for c in columns)})"
                         f" SETTINGS {', '.join(settings)} FORMAT JSONCompactEachRow")
            self._timed(f"INSERT INTO {table}", lambda: self._insert(statement, payload))

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        rows = self.query(sql, params)
        if not rows:
            return None
        return next(iter(rows[0].values()))

    @abstractmethod
    def _query(self, sql: str, params: Params) -> list[Row]: ...

    @abstractmethod
    def _execute(self, sql: str, params: Params) -> None: ...

    @abstractmethod
    def _insert(self, statement: str, payload: str) -> None:
        """Run ``statement`` (an INSERT ... FORMAT) with ``payload`` as its data."""

    @abstractmethod
    def create_database(self) -> None:
        """Create this store's database if it does not exist, and work in it."""

    @abstractmethod
    def use_database(self) -> None:
        """Work in this store's database (which exists) from now on, on every connection."""

    @abstractmethod
    def drop_database(self) -> None:
        """Drop this store's database and everything in it (tests)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def _timed(self, sql: str, run: Any) -> Any:
        started = time.perf_counter()
        try:
            return run()
        finally:
            elapsed = time.perf_counter() - started
            if elapsed > SLOW_QUERY_SECONDS:
                log.warning("slow query (%.2fs, %s): %s", elapsed, self.backend, " ".join(sql.split())[:200])
