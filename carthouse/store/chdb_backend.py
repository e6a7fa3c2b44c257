"""Embedded ClickHouse through chdb: one engine per process, a small pool of connections to it."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import chdb

from carthouse.config import Settings
from carthouse.store.base import Params, Row, Store, StoreError, StoreUnavailable
from carthouse.store.params import encode_params

_CONNECT_OPTIONS = "output_format_json_quote_64bit_integers=0&output_format_json_quote_decimals=0"
DEFAULT_CACHE_MB = Settings.chdb_cache_mb


def _cache_options(cache_mb: int) -> str:
    """Decompressed column blocks kept in memory, up to ``cache_mb``: the analytics endpoints read the same
    recent ranges again and again (a dashboard refreshing), and decompressing them was a large share of their
    time (10 M events: 6-30 % faster per endpoint, ~150 MB more resident; docs/PERFORMANCE.md). ClickHouse uses
    this cache only for reads of at most merge_tree_max_rows/bytes_to_use_cache; the defaults (1 M rows) would
    leave out every month of a large shop, so the byte limit is the cache's size (and the row limit no tighter):
    a read larger than the cache bypasses it instead of flushing it. 0 turns the cache off."""
    if cache_mb <= 0:
        return ""
    size = cache_mb * 1024 * 1024
    return (f"&uncompressed_cache_size={size}&use_uncompressed_cache=1"
            f"&merge_tree_max_rows_to_use_cache={size}&merge_tree_max_bytes_to_use_cache={size}")

# chdb hosts one engine per process, bound to one path: every store in the process shares it.
_engine_lock = threading.Lock()
_engine_path: Path | None = None


def _claim_engine(path: Path) -> None:
    global _engine_path
    with _engine_lock:
        if _engine_path is None:
            _engine_path = path
        elif _engine_path != path:
            raise StoreError(f"chdb already serves {_engine_path} in this process; cannot open {path}")


def _is_unavailable(message: str) -> bool:
    lowered = message.lower()
    return any(
        marker in lowered
        for marker in ("permission denied", "read-only", "readonly", "no space left", "cannot open file")
    )


def _store_error(message: str) -> StoreError:
    return StoreUnavailable(message) if _is_unavailable(message) else StoreError(message)


class ChdbStore(Store):
    """A database inside the embedded engine. Connections are pooled: chdb runs queries of different
    connections in parallel, while one connection must not run two queries at once."""

    backend = "chdb"

    def __init__(self, data_dir: Path, database: str, pool_size: int = 4, cache_mb: int = DEFAULT_CACHE_MB) -> None:
        super().__init__(database)
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _claim_engine(self.data_dir)
        self.exclusive_slot = f"chdb:{self.data_dir}"
        self._pool: queue.LifoQueue[chdb.state.sqlitelike.Connection] = queue.LifoQueue()
        self._all = []
        # The engine takes its cache size from the first connection of the process; every connection asks to use it.
        options = _CONNECT_OPTIONS + _cache_options(cache_mb)
        for _ in range(pool_size):
            conn = chdb.connect(f"{self.data_dir}/chdb?{options}")
            self._pool.put(conn)
            self._all.append(conn)

    @contextmanager
    def _connection(self) -> Iterator[chdb.state.sqlitelike.Connection]:
        conn = self._pool.get()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    def _run(self, sql: str, params: Params, fmt: str = "JSONEachRow") -> bytes:
        with self._connection() as conn:
            try:
                result = conn.query(sql, fmt, params=encode_params(params))
            except Exception as exc:  # chdb raises ChdbError/RuntimeError with the server message
                raise _store_error(str(exc)) from exc
        return result.bytes() if result is not None else b""

    def _query(self, sql: str, params: Params) -> list[Row]:
        data = self._run(sql, params)
        # The rows as one JSON array, parsed in one call: a call per row cost 2.7 ms of a 15 ms query for a year
        # of daily rows, mostly in the call itself. A raw newline never occurs inside a JSON row, so every one
        # separates rows. The standard library's parser keeps integers past 64 bits exact (Int128 sums), which
        # orjson would turn into floats.
        return json.loads(b"[" + data.strip(b"\n").replace(b"\n", b",") + b"]")

    def _execute(self, sql: str, params: Params) -> None:
        self._run(sql, params)

    def _insert(self, statement: str, payload: str) -> None:
        # The data follows the statement, so ClickHouse parses only up to FORMAT and streams the rest.
        # Not chdb's send_insert: it reports success when the write into a materialized view's target table
        # fails (chdb 4.4.0: rows lost, no error), which would acknowledge events that were never stored.
        self._run(f"{statement}\n{payload}", {})

    def create_database(self) -> None:
        self._run(f"CREATE DATABASE IF NOT EXISTS {self.database}", {})
        self.use_database()

    def use_database(self) -> None:
        # Session state is per connection: every pooled connection works in this store's database.
        for conn in self._all:
            conn.query(f"USE {self.database}")

    def drop_database(self) -> None:
        self._run(f"DROP DATABASE IF EXISTS {self.database} SYNC", {})

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
