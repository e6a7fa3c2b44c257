"""What one hop costs on this machine when the thread it wakes was idle: a gRPC Health.Check round trip against
the stack's own server plumbing (`carthouse.grpc_server.serve`, interceptors included) from a client in another
process, and an asyncio hand-off to a worker thread and back, each timed back to back and after pauses.

A REST call wakes a thread several times (gateway, Redis, gRPC poller, event loop, worker), and a thread woken
after an idle pause answers later than one woken back to back, which is why the REST path's fixed cost over the
bare query is larger after the pauses between requests. (Guest halt polling does not change the cost after a
pause here: the same figures with /sys/module/haltpoll/parameters/guest_halt_poll_ns at 0 and at 200000;
docs/PERFORMANCE.md.)

    .venv/bin/python bench/hop.py [--calls 400] [--pauses 0,0.001,0.01,0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.query import percentiles  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.grpc_server import serve  # noqa: E402
from tests.support.stack_process import machine_line  # noqa: E402

# Runs in its own process, as the gateway does: prints the round trips in milliseconds, one per line.
GRPC_CLIENT = """
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
calls, pause = int(sys.argv[2]), float(sys.argv[3])
for _ in range(20):
    stub.Check(health_pb2.HealthCheckRequest())
for _ in range(calls):
    time.sleep(pause)
    started = time.perf_counter()
    stub.Check(health_pb2.HealthCheckRequest())
    print((time.perf_counter() - started) * 1000)
"""


def grpc_round_trips(target: str, calls: int, pause: float) -> list[float]:
    out = subprocess.run([sys.executable, "-c", GRPC_CLIENT, target, str(calls), str(pause)],
                         capture_output=True, text=True, check=True).stdout
    return [float(line) for line in out.split()]


async def thread_hand_offs(calls: int, pause: float) -> list[float]:
    """asyncio.to_thread of a call that does nothing: the event loop wakes a worker and is woken by it."""
    samples = []
    for _ in range(calls):
        await asyncio.sleep(pause)
        started = time.perf_counter()
        await asyncio.to_thread(int)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p50_p95(samples: list[float]) -> str:
    p50, p95 = percentiles(samples)
    return f"{p50:6.3f} ms  {p95:6.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400, help="timed calls per pause (default 400)")
    parser.add_argument("--pauses", default="0,0.001,0.01,0.05",
                        help="idle seconds before each call, comma-separated (default 0,0.001,0.01,0.05)")
    args = parser.parse_args()
    pauses = [float(p) for p in args.pauses.split(",")]
    print(f"{'hop':<34} {'pause':>8}  {'p50':>9}  {'p95':>9}")
    figures: dict[str, object] = {"calls": args.calls}
    with serve([]) as port:
        for pause in pauses:
            samples = grpc_round_trips(f"127.0.0.1:{port}", args.calls, pause)
            print(f"{'gRPC Health.Check round trip':<34} {pause * 1000:6.0f}ms  {p50_p95(samples)}", flush=True)
            figures[f"grpc after {pause * 1000:g} ms p50_ms"], figures[f"grpc after {pause * 1000:g} ms p95_ms"] = \
                percentiles(samples)
    for pause in pauses:
        samples = asyncio.run(thread_hand_offs(args.calls, pause))
        print(f"{'asyncio.to_thread and back':<34} {pause * 1000:6.0f}ms  {p50_p95(samples)}", flush=True)
        figures[f"thread after {pause * 1000:g} ms p50_ms"], figures[f"thread after {pause * 1000:g} ms p95_ms"] = \
            percentiles(samples)
    print(machine_line())
    record("hop", figures)


if __name__ == "__main__":
    main()
