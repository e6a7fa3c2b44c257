"""Redis stopped mid-stream: ingestion goes on, purchases stay deduplicated (through ClickHouse),
quotas fail open, and everything resumes when Redis returns, without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from app.redis_server import RedisServer
from app.stack import running_stack
from carthouse.config import Settings
from carthouse.store import Store
from carthouse.v1 import ingest_pb2_grpc
from tests.builders import ADD_TO_CART, batch, event, key, track
from tests.conftest import AppspaceFactory


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("outage-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outage_stack(store: Store, own_redis: RedisServer, session_dir: Path):
    settings = Settings(data_dir=session_dir / "outage", database=store.database, admin_token="t")
    with (
        running_stack(settings, own_redis.url, store=store, port=0) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        yield running, channel


def test_ingestion_survives_redis_going_away_and_coming_back(outage_stack, own_redis: RedisServer,
                                                             store: Store, caplog) -> None:
    running, channel = outage_stack
    shop = AppspaceFactory(channel, running.admin_token)("standard")
    ingest = ingest_pb2_grpc.IngestServiceStub(channel)

    def stored(where: str = "1") -> int:
        return store.scalar(f"SELECT count() FROM events WHERE appspace_id = {{a:String}} AND {where}",
                            {"a": shop.appspace_id})

    assert ingest.Track(track(transaction_id="before"), metadata=key(shop.secret_key)).ok

    own_redis.stop()
    # A retry of an order acknowledged before the outage is still recognised (ClickHouse fallback).
    assert ingest.Track(track(transaction_id="before"), metadata=key(shop.secret_key)).ok
    # Orders sent during the outage are stored once, also when repeated inside one batch.
    assert ingest.Track(track(transaction_id="during"), metadata=key(shop.secret_key)).ok
    assert ingest.Track(track(transaction_id="during"), metadata=key(shop.secret_key)).ok
    response = ingest.Batch(batch(event(transaction_id="during-2"), event(transaction_id="during-2"),
                                  event(ADD_TO_CART)), metadata=key(shop.secret_key))
    assert response.accepted == 3
    assert stored("transaction_id = 'before'") == 1
    assert stored("transaction_id = 'during'") == 1
    assert stored("transaction_id = 'during-2'") == 1
    assert stored("event_type = 'add_to_cart'") == 1
    assert any("quota not enforced" in r.message for r in caplog.records)
    assert any("deduplicating purchases and refunds through ClickHouse" in r.message for r in caplog.records)

    restarted = RedisServer(own_redis.workdir, port=own_redis.port).start()
    try:
        assert ingest.Track(track(transaction_id="after"), metadata=key(shop.secret_key)).ok
        assert ingest.Track(track(transaction_id="after"), metadata=key(shop.secret_key)).ok
        assert stored("transaction_id = 'after'") == 1
        assert stored() == 5
    finally:
        restarted.stop()
