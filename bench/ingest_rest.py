"""Ingest throughput through REST (POST /v1/api/analytics/ecommerce/batch via the Python gateway) next to
gRPC Batch, in the same run against the same stack (`carthouse run` in its own process).

    .venv/bin/python bench/ingest_rest.py [--seconds 60] [--concurrency 64]

The REST load generator keeps HTTP/1.1 connections alive and writes pre-built requests on raw asyncio
streams, so that its own cost stays small on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson
from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_grpc import build_requests, drive  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.v1 import ingest_pb2  # noqa: E402
from tests.support.stack_process import StackProcess, count_stored, machine_line  # noqa: E402

BATCH_PATH = "/v1/api/analytics/ecommerce/batch"


def http_requests(grpc_requests: list[bytes], api_key: str, port: int) -> list[bytes]:
    """The same batches as JSON bodies in complete HTTP/1.1 requests."""
    built = []
    for raw in grpc_requests:
        body = orjson.dumps(json_format.MessageToDict(ingest_pb2.BatchRequest.FromString(raw),
                                                      preserving_proto_field_name=True))
        head = (f"POST {BATCH_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {api_key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        built.append(head + body)
    return built


async def drive_http(port: int, requests: list[bytes], concurrency: int, seconds: float) -> tuple[int, int, float]:
    accepted = 0
    errors = 0
    cursor = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal accepted, errors, cursor
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and cursor < len(requests):
                request = requests[cursor]
                cursor += 1
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                if b" 200 " in status_line:
                    accepted += orjson.loads(body)["accepted"]
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted, errors, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="measured duration of each protocol, in two alternating halves (default 60)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured warm-up seconds (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carthouse-bench-") as scratch:
        return compare(Path(scratch) / "data", args)


def compare(data_dir: Path, args: argparse.Namespace) -> int:
    """Both protocols against one stack in data_dir; prints the rates, returns the exit code."""
    with StackProcess(data_dir) as stack:
        keys = stack.create_appspace()
        budget = int((args.seconds + args.warmup) * 400) + args.concurrency
        print(f"building {2 * budget} batches of 100 events ...", flush=True)
        grpc_requests = build_requests(budget, keys["publishable_key"], seed=7)
        rest_requests = http_requests(build_requests(budget, keys["publishable_key"], seed=8), keys["publishable_key"],
                                      stack.http_port)
        warm = max(args.concurrency, int(args.warmup * 150))
        total, _, _ = asyncio.run(drive_http(stack.http_port, rest_requests[:warm], args.concurrency, args.warmup))
        # Alternate the protocols in four phases, so both meet the same store state (merge backlog grows).
        rest, grpc_result = [0, 0, 0.0], [0, 0, 0.0]
        rest_left, grpc_left = rest_requests[warm:], grpc_requests
        half = args.seconds / 2
        for phase in range(4):
            is_rest = phase % 2 == 0
            print(f"{'REST' if is_rest else 'gRPC'}: measuring for {half:.0f} s, {args.concurrency} in flight ...",
                  flush=True)
            if is_rest:
                done = asyncio.run(drive_http(stack.http_port, rest_left, args.concurrency, half))
                rest_left = rest_left[done[0] // 100 + done[1]:]
                target = rest
            else:
                done = asyncio.run(drive(stack.target, grpc_left, args.concurrency, half))
                grpc_left = grpc_left[done[0] // 100 + done[1]:]
                target = grpc_result
            for index in range(3):
                target[index] += done[index]
            total += done[0]
    stored, blocked = count_stored(data_dir, keys["appspace_id"])
    rest_rate = rest[0] / rest[2]
    grpc_rate = grpc_result[0] / grpc_result[2]
    print(f"\ningest over REST batch: {rest_rate:,.0f} events/s ({rest[0]:,} events, {rest[1]} failed requests)")
    print(f"ingest over gRPC Batch: {grpc_rate:,.0f} events/s ({grpc_result[0]:,} events, {grpc_result[1]} failed)")
    print(f"REST / gRPC: {rest_rate / grpc_rate:.2f}")
    print(f"stored rows after shutdown: {stored:,} + {blocked:,} blocked by fraud rules "
          f"(acknowledged: {total:,} incl. warm-up)")
    print(machine_line())
    record("ingest_rest", {"rest_events_per_s": rest_rate, "grpc_events_per_s": grpc_rate,
                           "rest_over_grpc": rest_rate / grpc_rate, "rest_failed": rest[1],
                           "grpc_failed": grpc_result[1], "stored": stored, "blocked": blocked, "acknowledged": total})
    return 0 if stored + blocked == total and rest[1] == 0 and grpc_result[1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
