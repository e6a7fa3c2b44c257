"""FraudService in a child process of the embedded stack.

Check runs for every ingest request; served from the stack's own process it would share that process's one
Python thread (the GIL) with the ingest event loop, which is already the bottleneck (docs/PERFORMANCE.md).
FraudService needs only Redis, not the chdb data directory that only one process may own, so in the embedded
mode it gets a process of its own, reached over gRPC like any other service. `carthouse serve fraud`
(compose) runs it in the foreground instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

import grpc

from app import redis_server
from app.lifeline import follow_parent
from carthouse.grpc_server import ServiceBinding, serve
from carthouse.logs import configure_logging

log = logging.getLogger("carthouse.fraud")
START_TIMEOUT_SECONDS = 60


def fraud_binding(redis_url: str) -> ServiceBinding:
    from carthouse.v1 import fraud_pb2_grpc
    from services.fraud import servicer
    from services.fraud.velocity import VelocityCounter

    return ServiceBinding(
        servicer.SERVICE_NAME,
        fraud_pb2_grpc.add_FraudServiceServicer_to_server,
        servicer.FraudServicer(VelocityCounter(redis_server.connect(redis_url))),
    )


def _serve_child(redis_url: str, host: str, log_level: int, ready: Connection) -> None:
    configure_logging(logging.getLevelName(log_level))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process stops
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    follow_parent(os.getppid(), stop.set)
    with serve([fraud_binding(redis_url)], host, 0) as bound:
        ready.send(bound)
        stop.wait()


def remote_health(target: str) -> ServiceBinding:
    """FraudService's health as the stack's own server reports it: polled from the child."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.fraud import servicer

    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(target))

    def healthy() -> bool:
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=servicer.SERVICE_NAME), timeout=1)
        except grpc.RpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    return ServiceBinding(servicer.SERVICE_NAME, None, None, healthy=healthy)


@contextmanager
def fraud_process(redis_url: str, host: str = "127.0.0.1") -> Iterator[str]:
    """Start FraudService in a spawned child; yield its gRPC address; stop it (gracefully) on exit."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_serve_child, name="carthouse-fraud", daemon=True,
                              args=(redis_url, host, logging.getLogger().getEffectiveLevel(), sending))
    process.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not receiving.poll(0.1):
        if not process.is_alive() or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"FraudService process did not start (exit code {process.exitcode})")
    target = f"{host}:{receiving.recv()}"
    log.info("FraudService runs in process %d at %s", process.pid, target)
    try:
        yield target
    finally:
        process.terminate()
        process.join(15)
        if process.is_alive():
            process.kill()
