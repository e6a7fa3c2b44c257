"""The one choke point for ClickHouse: two backends (chdb embedded, clickhouse-driver) running the same SQL.

SQL uses ClickHouse's native query parameters (``{name:Type}``), which both backends bind server-side,
so no value is ever pasted into SQL text.
"""

from carthouse.store.base import Store, StoreError, StoreUnavailable
from carthouse.store.factory import open_store

__all__ = ["Store", "StoreError", "StoreUnavailable", "open_store"]
