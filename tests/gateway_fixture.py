"""A real gateway (uvicorn, httptools) on a free port in a thread, in front of a running gRPC stack."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from app.redis_server import free_port
from gateway.app import Gateway, GatewayConfig
from gateway.descriptors import ApiDescriptors
from gateway.server import gateway_server


@contextmanager
def running_gateway(upstream: str, redis_url: str, **config: object) -> Iterator[str]:
    """Yields the base URL; stops the server (gracefully) on exit."""
    # Every test client is 127.0.0.1, counted in one Redis window per minute across all the session's gateways:
    # with the product's default (1,000 a minute) a test would get 429 after a busy minute of other tests.
    # Tests of the limit itself set theirs.
    config.setdefault("rate_limit_per_min", 1_000_000)
    port = free_port()
    app = Gateway(ApiDescriptors(), GatewayConfig(upstream=upstream, redis_url=redis_url, **config))
    server = gateway_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def with_window_to_spare(window_seconds: int, needed_seconds: float) -> None:
    """Waits for the rate limit's next window when the current one (windows are aligned to the clock) ends within
    ``needed_seconds``: a test counting requests in one window must not have them straddle its edge."""
    left = window_seconds - time.time() % window_seconds
    if left < needed_seconds:
        time.sleep(left + 0.05)
