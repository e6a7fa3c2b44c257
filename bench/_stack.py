"""Starting a real `carthouse run` for benchmarks, as a user would (its own process, data dir, Redis)."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from carthouse.redis_server import free_port

CLI = [sys.executable, "-m", "carthouse.cli"]


class BenchStack:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.env = {**os.environ, "CARTHOUSE_DATA_DIR": str(data_dir), "CARTHOUSE_GRPC_PORT": str(self.grpc_port),
                    "CARTHOUSE_HTTP_PORT": str(self.http_port), "CARTHOUSE_RATE_LIMIT_PER_MIN": "100000000",
                    "CARTHOUSE_LOG_LEVEL": "WARNING", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def __enter__(self) -> BenchStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "run.log").open("ab")
        self.process = subprocess.Popen([*CLI, "run", "--redis-port", str(free_port())], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 60
            while True:
                try:
                    health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    return self
                except grpc.RpcError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(f"stack did not start; see {self.data_dir / 'run.log'}") from None
                    time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=120)

    def create_appspace(self, plan: str = "enterprise", currency: str = "USD") -> dict[str, str]:
        out = subprocess.run([*CLI, "--grpc", self.target, "appspace", "create", "--name", "bench", "--plan", plan,
                              "--base-currency", currency, "--json"], env=self.env, capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout)


def machine_line() -> str:
    """What every benchmark prints last, so its figure can be recorded with the machine and the date."""
    return (f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores; date {datetime.now(UTC):%Y-%m-%d}")


def count_stored(data_dir: Path, appspace_id: str) -> tuple[int, int]:
    """(events stored, events blocked by the fraud rules) of the appspace, read after the stack stopped, in a
    child process: chdb serves one data directory per process, and a benchmark may run several stacks."""
    out = subprocess.run([sys.executable, "-m", "bench._stack", str(data_dir), appspace_id], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    stored, blocked = json.loads(out.stdout)
    return stored, blocked


def _count(data_dir: Path, appspace_id: str) -> tuple[int, int]:
    from carthouse.store.chdb_backend import ChdbStore

    store = ChdbStore(data_dir, "carthouse", pool_size=1)
    store.create_database()
    params = {"a": appspace_id}
    stored = store.scalar("SELECT count() FROM events WHERE appspace_id = {a:String}", params)
    blocked = store.scalar("SELECT count() FROM fraud_events WHERE appspace_id = {a:String} AND severity = 2", params)
    store.close()
    return int(stored), int(blocked)


if __name__ == "__main__":
    print(json.dumps(_count(Path(sys.argv[1]), sys.argv[2])))
