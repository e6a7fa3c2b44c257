"""Fixtures: a real redis-server and a real ClickHouse (chdb, or a server when CLICKHOUSE_URL is set).

chdb binds one engine per process to one directory, so the whole session shares one data directory
and every test module gets its own fresh database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from app.redis_server import RedisServer
from app.stack import RunningStack, running_stack
from carthouse.config import Settings
from carthouse.store import Store
from carthouse.store.migrate import migrate, migrate_cluster
from carthouse.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2_grpc
from tests.gateway_fixture import running_gateway

CLICKHOUSE_URL = os.environ.get("CLICKHOUSE_URL", "")
# With a server of a cluster in CLICKHOUSE_URL, the server-backed tests run on the cluster form of the schema.
CLICKHOUSE_CLUSTER = os.environ.get("CARTHOUSE_CLICKHOUSE_CLUSTER", "")


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("carthouse")


@pytest.fixture(scope="session")
def redis_server(session_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(session_dir / "redis").start()
    yield server
    server.stop()


def _database_name(request: pytest.FixtureRequest) -> str:
    return f"t_{request.module.__name__.rsplit('.', 1)[-1]}_{uuid.uuid4().hex[:8]}"


def open_test_store(backend: str, data_dir: Path, database: str) -> Store:
    if backend == "clickhouse":
        from carthouse.store.driver_backend import DriverStore

        store: Store = DriverStore(CLICKHOUSE_URL, database, cluster=CLICKHOUSE_CLUSTER)
        if CLICKHOUSE_CLUSTER:
            migrate_cluster(store, CLICKHOUSE_CLUSTER)
            return store
    else:
        from carthouse.store.chdb_backend import ChdbStore

        store = ChdbStore(data_dir, database)
    store.create_database()
    migrate(store)
    return store


@pytest.fixture(scope="module")
def store(request: pytest.FixtureRequest, session_dir: Path) -> Iterator[Store]:
    """A fresh database on the default backend (chdb) for one test module."""
    opened = open_test_store("chdb", session_dir / "chdb", _database_name(request))
    yield opened
    opened.drop_database()
    opened.close()


@pytest.fixture(scope="module", params=["chdb", "clickhouse"])
def any_store(request: pytest.FixtureRequest, session_dir: Path) -> Iterator[Store]:
    """The same tests on both backends; the server one runs only when CLICKHOUSE_URL is set."""
    if request.param == "clickhouse" and not CLICKHOUSE_URL:
        pytest.skip("clickhouse-driver backend: set CLICKHOUSE_URL=clickhouse://host:9000/db to run these")
    opened = open_test_store(request.param, session_dir / "chdb", _database_name(request))
    yield opened
    opened.drop_database()
    opened.close()


@pytest.fixture(scope="module")
def stack(store: Store, redis_server: RedisServer, session_dir: Path) -> Iterator[RunningStack]:
    settings = Settings(data_dir=session_dir / "stack", database=store.database, admin_token="test-admin-token")
    with running_stack(settings, redis_server.url, store=store, port=0) as running:
        yield running


@pytest.fixture(scope="module")
def channel(stack: RunningStack) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(stack.target) as opened:
        yield opened


@pytest.fixture(scope="module")
def ingest(channel: grpc.Channel) -> ingest_pb2_grpc.IngestServiceStub:
    return ingest_pb2_grpc.IngestServiceStub(channel)


@dataclass(frozen=True)
class ShopKeys:
    appspace_id: str
    publishable_key: str
    secret_key: str


class AppspaceFactory:
    def __init__(self, channel: grpc.Channel, admin_token: str) -> None:
        self.stub = admin_pb2_grpc.AdminServiceStub(channel)
        self.metadata = [("x-admin-token", admin_token)]

    def __call__(self, plan: str = "growth", base_currency: str = "USD", timezone: str = "UTC") -> ShopKeys:
        response = self.stub.CreateAppspace(
            admin_pb2.CreateAppspaceRequest(
                name="test shop", plan=plan, base_currency=base_currency, timezone=timezone
            ),
            metadata=self.metadata,
        )
        return ShopKeys(response.appspace.appspace_id, response.publishable_key, response.secret_key)


@pytest.fixture(scope="module")
def new_appspace(channel: grpc.Channel, stack: RunningStack) -> AppspaceFactory:
    return AppspaceFactory(channel, stack.admin_token)


@pytest.fixture(scope="module")
def http(stack: RunningStack, redis_server: RedisServer) -> Iterator[httpx.Client]:
    """An HTTP client of a real REST gateway in front of this module's stack."""
    with running_gateway(stack.target, redis_server.url) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client
