"""`carthouse run` as a user starts it (a separate process, its own chdb directory and redis-server),
managed with the `carthouse` CLI, then stopped with SIGTERM and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.redis_server import free_port
from carthouse.v1 import ingest_pb2_grpc
from tests.builders import key, track

CLI = [sys.executable, "-m", "app.cli"]
EUR_ITEMS = [{"item_id": "sku_1", "price": 24.99, "quantity": 2}]


class Stack:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.grpc_port = free_port()
        self.redis_port = free_port()
        self.http_port = free_port()
        self.log = data_dir / "run.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "CARTHOUSE_DATA_DIR": str(data_dir), "CARTHOUSE_GRPC_PORT": str(self.grpc_port),
                    "CARTHOUSE_HTTP_PORT": str(self.http_port)}
        self.env.pop("CARTHOUSE_ADMIN_TOKEN", None)
        self.env.pop("REDIS_URL", None)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*CLI, "run", "--redis-port", str(self.redis_port)], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        return
                except grpc.RpcError:
                    pass
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, "stack did not become healthy in 60 s"
                time.sleep(0.2)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "--grpc", self.target, *args], env=self.env, capture_output=True, text=True,
                              timeout=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("cli") / "data")
    running.start()
    yield running
    if running.process and running.process.poll() is None:
        running.stop()  # SIGTERM, so that it also stops the redis-server it started


def test_cli_manages_appspaces_and_keys_of_the_running_stack(stack: Stack) -> None:
    created = stack.cli("appspace", "create", "--name", "My Shop", "--plan", "growth", "--base-currency", "EUR",
                        "--timezone", "Europe/Berlin", "--json")
    assert created.returncode == 0, created.stderr
    keys = json.loads(created.stdout)
    assert set(keys) == {"appspace_id", "publishable_key", "secret_key"}
    assert keys["publishable_key"].startswith("ck_pub_") and keys["secret_key"].startswith("ck_sec_")
    token = stack.data_dir / "admin_token"
    assert token.stat().st_mode & 0o777 == 0o600

    with grpc.insecure_channel(stack.target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        assert ingest.Track(track(currency="EUR", items=EUR_ITEMS), metadata=key(keys["publishable_key"])).ok

        extra = json.loads(stack.cli("key", "create", "--appspace", keys["appspace_id"], "--kind", "secret",
                                     "--json").stdout)
        listed = json.loads(stack.cli("key", "list", "--appspace", keys["appspace_id"], "--json").stdout)["keys"]
        assert sorted(k["kind"] for k in listed) == ["publishable", "secret", "secret"]
        revoked = stack.cli("key", "revoke", extra["key"]["key_id"])
        assert revoked.returncode == 0 and "revoked key" in revoked.stdout
        time.sleep(2.5)  # auth caches keys for 2 s
        with pytest.raises(grpc.RpcError) as caught:
            ingest.Track(track(currency="EUR", items=EUR_ITEMS), metadata=key(extra["api_key"]))
        assert caught.value.details() == "API key has been revoked"

    listing = stack.cli("appspace", "list")
    assert keys["appspace_id"] in listing.stdout and "Europe/Berlin" in listing.stdout
    changed = stack.cli("appspace", "set", keys["appspace_id"], "--plan", "scale", "--json")
    assert json.loads(changed.stdout)["appspace"]["plan"] == "scale"
    refused = stack.cli("appspace", "set", keys["appspace_id"], "--base-currency", "USD")
    assert refused.returncode == 1
    assert "base currency cannot be changed after creation" in refused.stderr


def test_fraud_settings_and_fraud_list(stack: Stack) -> None:
    keys = json.loads(stack.cli("appspace", "create", "--name", "Fraud", "--plan", "growth", "--json").stdout)
    shop = keys["appspace_id"]
    changed = stack.cli("appspace", "set", shop, "--fraud", "allowed_currencies=USD,EUR", "--fraud",
                        "revenue_ceiling=500", "--json")
    assert changed.returncode == 0, changed.stderr
    effective = json.loads(json.loads(changed.stdout)["appspace"]["fraud_settings_json"])
    assert (effective["allowed_currencies"], effective["revenue_ceiling"]) == (["USD", "EUR"], 500)
    bad = stack.cli("appspace", "set", shop, "--fraud", "revenue_ceiling")
    assert bad.returncode == 2 and "--fraud takes KEY=VALUE" in bad.stderr
    time.sleep(2.5)  # auth caches appspaces for 2 s
    with grpc.insecure_channel(stack.target) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        assert ingest.Track(track(transaction_id="gbp", currency="GBP", items=None), metadata=key(keys["secret_key"]))
        assert ingest.Track(track(transaction_id="big", revenue=600, items=None), metadata=key(keys["secret_key"]))
    listed = stack.cli("fraud", "list", "--appspace", shop, "--json")
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)["events"]
    assert [(e["transaction_id"], e["status"], e["reasons"]) for e in events] == [
        ("big", "flagged", ["revenue_above_ceiling"]), ("gbp", "blocked", ["currency_not_allowed"])]
    table = stack.cli("fraud", "list", "--appspace", shop, "--status", "blocked", "--since", "1h").stdout
    assert "currency_not_allowed" in table and "revenue_above_ceiling" not in table
    future = stack.cli("fraud", "list", "--appspace", shop, "--since", "2999-01-01")
    assert future.stdout.strip() == "(none)"
    assert "is neither like 7d" in stack.cli("fraud", "list", "--appspace", shop, "--since", "yesterday").stderr


def test_deletions_list(stack: Stack) -> None:
    keys = json.loads(stack.cli("appspace", "create", "--name", "Gdpr", "--plan", "growth", "--json").stdout)
    with grpc.insecure_channel(stack.target) as channel:
        from carthouse.v1 import analytics_pb2, analytics_pb2_grpc

        analytics_pb2_grpc.AnalyticsServiceStub(channel).DeleteUser(
            analytics_pb2.DeleteUserRequest(user_id="gone"), metadata=key(keys["secret_key"]))
    deadline = time.monotonic() + 60
    while True:
        listed = json.loads(stack.cli("deletions", "list", "--appspace", keys["appspace_id"], "--json").stdout)
        if listed["deletions"][0]["status"] == "done":
            break
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert listed["deletions"][0]["user_id"] == "gone"
    assert "gone" in stack.cli("deletions", "list", "--appspace", keys["appspace_id"]).stdout


def test_health_command_reports_serving(stack: Stack) -> None:
    result = stack.cli("health", "--service", "carthouse.v1.IngestService")
    assert (result.returncode, result.stdout.strip()) == (0, "SERVING")


def test_cli_errors_are_readable(stack: Stack) -> None:
    missing = stack.cli("key", "list", "--appspace", "as_nope")
    assert missing.returncode == 1 and "Appspace not found: as_nope" in missing.stderr
    nowhere = subprocess.run([*CLI, "--grpc", f"127.0.0.1:{free_port()}", "appspace", "list"], env=stack.env,
                             capture_output=True, text=True, timeout=60)
    assert nowhere.returncode == 1 and "is `make run` running?" in nowhere.stderr
    assert "appspace" in stack.cli("--help").stdout


def test_sigterm_stops_cleanly_and_data_survives_a_restart(stack: Stack) -> None:
    before = stack.cli("appspace", "list", "--json").stdout
    assert stack.stop() == 0
    assert "stopped cleanly" in stack.log.read_text()
    stack.start()
    assert stack.cli("appspace", "list", "--json").stdout == before
