"""Choosing and preparing the store from settings."""

from __future__ import annotations

from carthouse.config import Settings
from carthouse.store.base import Store
from carthouse.store.migrate import migrate, migrate_cluster


def open_store(settings: Settings, database: str | None = None) -> Store:
    """Open the configured backend, create its database and apply pending migrations."""
    name = database or settings.database
    store: Store
    if settings.clickhouse_url:
        from carthouse.store.driver_backend import DriverStore

        store = DriverStore(settings.clickhouse_url, name, cluster=settings.clickhouse_cluster)
    else:
        from carthouse.store.chdb_backend import ChdbStore

        store = ChdbStore(settings.data_dir, name, cache_mb=settings.chdb_cache_mb)
    if settings.clickhouse_cluster:
        migrate_cluster(store, settings.clickhouse_cluster)
        return store
    store.create_database()
    migrate(store)
    return store
