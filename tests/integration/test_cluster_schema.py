"""The cluster form of the schema (carthouse/store/cluster.py) checked where no ClickHouse server can run: it is
what the current migrations give, every statement passes ClickHouse's own parser (chdb's formatQuery), every
per-event table is Replicated and sharded by actor behind a Distributed table of its name, the views read and
write the local tables, and the settings cluster mode adds exist. What this cannot check (the statements run
on a cluster, answers equal to one node's) is said in docs/SCALING.md."""

from __future__ import annotations

import re

from carthouse.store.base import Store
from carthouse.store.cluster import (
    ACTOR,
    EVERYWHERE,
    QUERY_SETTINGS,
    cluster_statements,
    fill,
    schema_statements,
    single_node_schema,
)
from gateway.descriptors import ApiDescriptors


def test_the_committed_cluster_schema_is_what_the_migrations_give(store: Store) -> None:
    generated = cluster_statements(single_node_schema(store), store.database)
    assert schema_statements() == generated, "run `make cluster-schema` after changing a migration"


def test_every_statement_passes_clickhouses_parser(store: Store) -> None:
    for statement in schema_statements():
        filled = fill(statement, "carthouse", "carthouse_cluster")
        formatted = store.query("SELECT formatQuery({q:String}) AS f", {"q": filled})[0]["f"]
        assert "ON CLUSTER carthouse_cluster" in formatted, statement[:80]


def test_tables_are_replicated_sharded_by_actor_and_views_stay_on_their_shard(store: Store) -> None:
    single = single_node_schema(store)
    tables = {name for name, sql in single.items() if not sql.startswith("CREATE MATERIALIZED VIEW")}
    views = set(single) - tables
    statements = {re.match(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS \$database\.(\w+)", s)[1]: s
                  for s in schema_statements()}
    for name in tables - EVERYWHERE:
        local, distributed = statements[f"{name}_local"], statements[name]
        assert "/clickhouse/tables/{shard}/$database/" + name in local or "ENGINE = `Null`" in local, name
        assert f"ENGINE = Distributed($cluster, $database, {name}_local, cityHash64(appspace_id, " in distributed
    ingest = statements["events_ingest"]
    assert ingest.endswith(f"cityHash64(appspace_id, {ACTOR}))")
    for name in EVERYWHERE & tables:
        assert "/clickhouse/tables/all/$database/" + name in statements[name]
        assert f"{name}_local" not in statements
    for name in views:
        view = statements[name]
        assert re.search(r"TO \$database\.(\w+_local|touch_channels)\b", view), name
        assert all(source.endswith("_local") for source in re.findall(r"FROM \$database\.(\w+)", view)), name
    # The deduplication window a retried INSERT relies on carries over to the replicated tables.
    assert not any("non_replicated_deduplication_window" in s for s in statements.values())
    assert "replicated_deduplication_window = 1000" in statements["events_local"]


def test_the_settings_cluster_mode_adds_exist(store: Store) -> None:
    settings = ", ".join(f"{name} = {value!r}" for name, value in QUERY_SETTINGS.items())
    assert store.query(f"SELECT 1 AS one SETTINGS {settings}") == [{"one": 1}]


def test_alterations_name_the_local_tables_on_every_node_in_cluster_form(store: Store) -> None:
    assert store.altered("events") == "events"
    store.cluster = "c1"
    try:
        assert store.altered("events") == "events_local ON CLUSTER c1"
        assert store.altered("deletion_requests") == "deletion_requests ON CLUSTER c1"
    finally:
        store.cluster = ""


def test_every_query_the_analytics_service_sends_passes_clickhouses_parser(
        http, store: Store, new_appspace, monkeypatch) -> None:
    """The queries are the same text in cluster form (the Distributed tables keep the names): each one the
    service sends for every GET route of the API is recorded and parsed on its own."""
    shop = new_appspace("enterprise")
    http.post("/v1/api/analytics/ecommerce/track", headers={"X-API-Key": shop.secret_key}, json={
        "event_type": "purchase", "transaction_id": "cl-o1", "revenue": 5, "user_id": "cl-u1",
        "properties": {"campaign": "c", "source": "s", "medium": "m"}})
    sent: list[str] = []
    recorded = store._query

    def recording(sql: str, params: dict) -> list:
        sent.append(sql)
        return recorded(sql, params)

    monkeypatch.setattr(store, "_query", recording)
    routes = [r for r in ApiDescriptors().routes if r.verb == "GET" and "/analytics/" in r.template]
    for route in routes:
        response = http.get(route.template, headers={"X-API-Key": shop.secret_key},
                            params={"user_id": "cl-u1", "model": "linear", "window": 30})
        assert response.status_code == 200, (route.template, response.text)
    monkeypatch.setattr(store, "_query", recorded)
    assert len(routes) == 16 and len(set(sent)) >= 20
    for sql in set(sent):
        store.query("SELECT formatQuery({q:String}) AS f", {"q": sql})
