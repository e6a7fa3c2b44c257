"""Starting a real `carthouse run` for fault tests and benchmarks, as a user would (its own processes, data
dir, Redis), and reading a stopped stack's store."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.redis_server import free_port

CLI = [sys.executable, "-m", "app.cli"]


class StackProcess:
    """`carthouse run` in its own process group (the stack and every child: gateway, fraud service, ingest
    workers, redis-server), so a test can kill all of it at once, like a container runtime would. Ports and
    the data directory stay the same across restarts."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, command: list[str] | None = None) -> None:
        """``command``: what runs the stack instead of `carthouse run` (it gets the same arguments)."""
        self.data_dir = data_dir
        self.command = command or [*CLI, "run"]
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.redis_port = free_port()
        self.env = {**os.environ, "CARTHOUSE_DATA_DIR": str(data_dir), "CARTHOUSE_GRPC_PORT": str(self.grpc_port),
                    "CARTHOUSE_HTTP_PORT": str(self.http_port), "CARTHOUSE_RATE_LIMIT_PER_MIN": "100000000",
                    "CARTHOUSE_LOG_LEVEL": "WARNING", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "run.log"

    def start(self, timeout: float = 90) -> StackProcess:
        """Start and wait until gRPC health and the REST gateway answer."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([*self.command, "--redis-port", str(self.redis_port)], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while not self._up(health):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"stack did not start; see {self.log_path}")
                time.sleep(0.2)
        return self

    def _up(self, health: health_pb2_grpc.HealthStub) -> bool:
        try:
            health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            with socket.create_connection(("127.0.0.1", self.http_port), timeout=1):
                return True
        except (grpc.RpcError, OSError):
            return False

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM, as systemd or `docker stop` sends it; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def kill(self) -> None:
        """kill -9 of the whole stack (every process of its group)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            # Children die with the group; give the kernel a moment to release their ports.
            time.sleep(0.5)
            self.process = None

    def kill_main(self) -> int:
        """kill -9 of the stack's main process alone (its children are left to notice); its process group."""
        assert self.process is not None
        group = self.process.pid
        self.process.kill()
        self.process.wait(timeout=30)
        self.process = None
        return group

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()

    def create_appspace(self, plan: str = "enterprise", currency: str = "USD") -> dict[str, str]:
        out = subprocess.run([*CLI, "--grpc", self.target, "appspace", "create", "--name", "bench", "--plan", plan,
                              "--base-currency", currency, "--json"], env=self.env, capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout)


def machine_line() -> str:
    """What every benchmark prints last, so its figure can be recorded with the machine and the date."""
    return (f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores; date {datetime.now(UTC):%Y-%m-%d}")


def query_stopped(data_dir: Path, sql: str, params: dict[str, object]) -> list[dict[str, object]]:
    """Rows of a query on a stopped stack's data, read in a child process: chdb serves one data directory per
    process, and a benchmark or test may run several stacks."""
    out = subprocess.run([sys.executable, "-m", "tests.support.stack_process", str(data_dir), sql, json.dumps(params)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    return json.loads(out.stdout)


def count_stored(data_dir: Path, appspace_id: str) -> tuple[int, int]:
    """(events stored, events blocked by the fraud rules) of the appspace, read after the stack stopped."""
    params = {"a": appspace_id}
    stored = query_stopped(data_dir, "SELECT count() AS n FROM events WHERE appspace_id = {a:String}", params)
    blocked = query_stopped(data_dir, "SELECT count() AS n FROM fraud_events WHERE appspace_id = {a:String}"
                                      " AND severity = 2", params)
    return int(stored[0]["n"]), int(blocked[0]["n"])


def _query(data_dir: Path, sql: str, params: dict[str, object]) -> list[dict[str, object]]:
    from carthouse.store.chdb_backend import ChdbStore

    store = ChdbStore(data_dir, "carthouse", pool_size=1)
    store.create_database()
    try:
        return store.query(sql, params)
    finally:
        store.close()


if __name__ == "__main__":
    print(json.dumps(_query(Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))))
