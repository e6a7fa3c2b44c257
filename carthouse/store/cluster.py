"""The schema in cluster form (CARTHOUSE_CLICKHOUSE_CLUSTER): ClickHouse's own machinery, derived from the schema
the migrations build on one node, so that both forms stay one schema.

- Per-event tables become `<name>_local` on every node, Replicated* with the same columns, ORDER BY, partitioning
  and deduplication window (`non_replicated_deduplication_window` becomes `replicated_deduplication_window`),
  replicated within a shard ('/clickhouse/tables/{shard}/<database>/<name>', '{replica}'), and `<name>` becomes
  a Distributed table over them. The services keep reading and writing `<name>`.
- Rows are sharded by a hash of (appspace_id, actor), the actor being user_id, else anonymous_id, else cart_id,
  as everywhere in the analytics: an actor's events, and everything the views derive from them, live on one
  shard, so per-actor work (funnel, carts, attribution, cohorts, journey) runs shard-locally and only aggregates
  travel.
- The materialized views are created on the local tables: an insert into the Distributed `events_ingest` lands
  on the actor's shard, and the views fan it out there.
- Small tables (appspaces, keys, FX rates, deletion requests, channel names, the migration ledger) keep their
  names and are replicated to every node of every shard (one replication path without {shard}).

`cluster_statements(single_node, …)` turns `SHOW CREATE TABLE` output into that DDL; scripts/gen-cluster-schema
writes it to cluster_schema.sql (with $database and $cluster left to fill), which a test keeps equal to what
the current migrations give and parses statement by statement with ClickHouse's parser (chdb).
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template

from carthouse.store.base import Store

# Replicated to every node of every shard, read where they are.
EVERYWHERE = {"appspaces", "api_keys", "fx_rates", "deletion_requests", "attribution_progress", "funnel_progress",
              "cart_progress", "touch_channels", "schema_migrations"}
ACTOR = "if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, cart_id))"
# How each Distributed table places rows written through it. Only events_ingest (the service's inserts),
# purchase_channels (the last-touch worker) and attribution_dirty are written that way; the others are filled by
# views on the shard of their event, and their key says where a direct write would go.
SHARDING = {
    "events_ingest": f"cityHash64(appspace_id, {ACTOR})",
    "events": f"cityHash64(appspace_id, {ACTOR})",
    "fraud_events": f"cityHash64(appspace_id, {ACTOR})",
}
BY_USER = "cityHash64(appspace_id, user_id)"
# What cluster mode adds to every query: subqueries and joins read the shard's own rows (an actor's rows are all
# there), GROUP BY on the sharding key is finished on the shards, and an acknowledged insert is on its shard.
QUERY_SETTINGS = {
    "distributed_product_mode": "local",
    "optimize_distributed_group_by_sharding_key": 1,
    "distributed_foreground_insert": 1,
}

SCHEMA_DATABASE = "carthouse"
HEADER = ("-- Generated from the migrations by `make cluster-schema` (python -m carthouse.store.cluster);\n"
          "-- never edited. $database and $cluster are filled when it is applied; {shard} and {replica} are\n"
          "-- each server's macros.\n\n")
_CREATE = re.compile(r"^CREATE (TABLE|MATERIALIZED VIEW) (\w+)\.(\w+)")
_ENGINE = re.compile(r"^ENGINE = `?(\w+)`?(?:\((.*)\))?$", re.MULTILINE)


def _qualified(name: str, sharded: set[str]) -> str:
    return f"$database.{name}_local" if name in sharded else f"$database.{name}"


def _replicated(engine: str, arguments: str, path: str) -> str:
    inner = ", ".join(part for part in (f"'{path}'", "'{replica}'", arguments) if part)
    return f"ENGINE = Replicated{engine}({inner})"


def _table(name: str, statement: str, sharded: set[str]) -> list[str]:
    match = _ENGINE.search(statement)
    if match is None:
        raise ValueError(f"no ENGINE in the statement of {name}")
    engine, arguments = match.group(1), match.group(2) or ""
    body = statement.replace("non_replicated_deduplication_window", "replicated_deduplication_window")
    if name not in sharded:
        replicated = _replicated(engine, arguments, f"/clickhouse/tables/all/$database/{name}")
        return [_on_cluster(_ENGINE.sub(replicated, body, count=1), name)]
    local = f"{name}_local"
    if engine == "Null":
        created = body
    else:
        created = _ENGINE.sub(_replicated(engine, arguments, f"/clickhouse/tables/{{shard}}/$database/{name}"),
                              body, count=1)
    key = SHARDING.get(name, BY_USER)
    distributed = (f"CREATE TABLE IF NOT EXISTS $database.{name} ON CLUSTER $cluster AS $database.{local}\n"
                   f"ENGINE = Distributed($cluster, $database, {local}, {key})")
    return [_on_cluster(created, local), distributed]


def _on_cluster(statement: str, new_name: str) -> str:
    kind = _CREATE.match(statement)
    assert kind is not None
    head = f"CREATE {kind.group(1)} IF NOT EXISTS $database.{new_name} ON CLUSTER $cluster"
    return head + statement[kind.end():]


def _view(name: str, statement: str, database: str, sharded: set[str]) -> str:
    # TO and FROM name tables as database.table: each becomes its local form where there is one.
    rewritten = re.sub(rf"\b{re.escape(database)}\.(\w+)",
                       lambda m: _qualified(m.group(1), sharded), statement)
    head = f"CREATE MATERIALIZED VIEW IF NOT EXISTS $database.{name} ON CLUSTER $cluster"
    return head + rewritten[len(f"CREATE MATERIALIZED VIEW $database.{name}"):]


def cluster_statements(single_node: dict[str, str], database: str) -> list[str]:
    """The cluster DDL (with $database and $cluster to fill) from ``single_node``: table name -> its SHOW CREATE
    statement on one node. Tables first (local, then Distributed), then the views."""
    views = {name: sql for name, sql in single_node.items() if sql.startswith("CREATE MATERIALIZED VIEW")}
    tables = {name: sql for name, sql in single_node.items() if name not in views}
    sharded = set(tables) - EVERYWHERE
    statements: list[str] = []
    for name in sorted(tables):
        statements += _table(name, tables[name], sharded)
    for name in sorted(views):
        statements.append(_view(name, views[name], database, sharded))
    return statements


def schema_statements() -> list[str]:
    """The statements of cluster_schema.sql, still to fill."""
    text = (resources.files("carthouse.store") / "cluster_schema.sql").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    pieces = "\n".join(lines).split(";\n\n")
    return [piece.strip().removesuffix(";") for piece in pieces if piece.strip()]


def fill(statement: str, database: str, cluster: str) -> str:
    """A statement of cluster_schema.sql for this database and cluster (ClickHouse's own {shard} and {replica}
    macros are left to each server)."""
    return Template(statement).substitute(database=database, cluster=cluster)


def single_node_schema(store: Store) -> dict[str, str]:
    """Every table and view of ``store``'s database as SHOW CREATE gives it (the migrations applied)."""
    names = store.query("SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
                        {"db": store.database})
    return {row["name"]: store.query(f"SHOW CREATE TABLE {store.database}.`{row['name']}`")[0]["statement"]
            for row in names}


def main() -> None:
    """Print cluster_schema.sql: the migrations applied to a scratch embedded engine, in cluster form."""
    import tempfile
    from pathlib import Path

    from carthouse.store.chdb_backend import ChdbStore
    from carthouse.store.migrate import migrate

    with tempfile.TemporaryDirectory() as scratch:
        store = ChdbStore(Path(scratch), SCHEMA_DATABASE, pool_size=1)
        store.create_database()
        migrate(store)
        statements = cluster_statements(single_node_schema(store), SCHEMA_DATABASE)
    print(HEADER + "".join(f"{statement};\n\n" for statement in statements), end="")


if __name__ == "__main__":
    main()
