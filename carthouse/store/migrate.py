"""Ordered, idempotent schema migrations, applied once each: files NNNN_name.sql in migrations/ (statements), or
NNNN_name.py with `apply(store)` where a change needs to look before it acts (rebuilding a table)."""

from __future__ import annotations

import importlib
import logging
from importlib import resources

from carthouse.store.base import Store

log = logging.getLogger("carthouse.store")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration, in order; the sql of a Python migration is ""."""
    folder = resources.files("carthouse.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name[:4].isdigit() and entry.name.endswith((".sql", ".py")):
            version, _, rest = entry.name.partition("_")
            sql = entry.read_text() if entry.name.endswith(".sql") else ""
            found.append((int(version), rest.rsplit(".", 1)[0], sql))
    return sorted(found)


def statements(sql: str) -> list[str]:
    """A migration file's statements, without its comment lines."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def migrate(store: Store) -> list[int]:
    """Apply migrations not yet recorded; every statement is IF NOT EXISTS (and every Python migration checks
    before it acts), so a rerun after a crash is safe."""
    store.execute(_LEDGER)
    done = {row["version"] for row in store.query("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        if sql:
            for statement in statements(sql):
                store.execute(statement)
        else:
            module = importlib.import_module(f"carthouse.store.migrations.{version:04d}_{name}")
            module.apply(store)
        store.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ({version:UInt32}, {name:String})",
            {"version": version, "name": name},
        )
        log.info("applied migration %04d_%s to %s", version, name, store.database)
        applied.append(version)
    return applied


def migrate_cluster(store: Store, cluster: str) -> list[int]:
    """Keep the schema on ``cluster`` in cluster form (carthouse/store/cluster.py): the database and every table
    and view ON CLUSTER, then every migration recorded as applied, since cluster_schema.sql is what they build.
    Every statement is IF NOT EXISTS, so a rerun (another service starting, a crash half-way) is safe.

    A migration added later is applied to a cluster in its cluster form by hand (ALTER … ON CLUSTER on the local
    tables; docs/SCALING.md) before the new version runs: this creates what is missing, it does not alter."""
    from carthouse.store.cluster import fill, schema_statements

    versions = {version for version, _, _ in migration_files()}
    exists = store.query("SELECT count() AS n FROM system.tables WHERE database = {db:String} "
                         "AND name = 'schema_migrations'", {"db": store.database})[0]["n"]
    if exists:
        store.use_database()
        if versions <= {row["version"] for row in store.query("SELECT version FROM schema_migrations")}:
            return []  # every service starts here: ON CLUSTER DDL only when something is missing
    store.execute(f"CREATE DATABASE IF NOT EXISTS {store.database} ON CLUSTER {cluster}")
    store.use_database()
    for statement in schema_statements():
        store.execute(fill(statement, store.database, cluster))
    done = {row["version"] for row in store.query("SELECT version FROM schema_migrations")}
    recorded = [(version, name) for version, name, _ in migration_files() if version not in done]
    for version, name in recorded:
        store.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ({version:UInt32}, {name:String})",
            {"version": version, "name": name},
        )
    log.info("cluster schema of %s on %s: %d migrations recorded", store.database, cluster, len(recorded))
    return [version for version, _ in recorded]
