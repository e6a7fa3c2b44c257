"""Per-event cost of enrichment (ua-parser + iptocc, in-process, as the ingest workers run it) and of
FraudService.Check over gRPC against `carthouse run`, on 100-event batches.

    .venv/bin/python bench/enrich_fraud.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stack import BenchStack, machine_line  # noqa: E402
from bench.ingest_grpc import make_event  # noqa: E402
from carthouse.v1 import fraud_pb2, fraud_pb2_grpc  # noqa: E402
from services.ingest.enrichment import classify_user_agent, country_of  # noqa: E402

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 Chrome/116.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/117.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]


def enrichment_cost(events: int, rng: random.Random) -> float:
    """Microseconds per event, with the mix of repeated user agents and addresses a shop sees."""
    pairs = [
        (rng.choice(USER_AGENTS) + f" build/{rng.randrange(50)}", f"81.2.{rng.randrange(256)}.{rng.randrange(256)}")
        for _ in range(events)
    ]
    started = time.perf_counter()
    for user_agent, address in pairs:
        classify_user_agent(user_agent)
        country_of(address)
    return (time.perf_counter() - started) / events * 1e6


def fraud_requests(count: int, rng: random.Random) -> list[fraud_pb2.CheckRequest]:
    now = datetime.now(UTC).isoformat()
    return [
        fraud_pb2.CheckRequest(
            appspace_id="as_bench", secret_key=False, base_digits=2,
            events=[fraud_pb2.CheckedEvent(event=make_event(rng), ip="81.2.69.160", event_time=now,
                                           revenue_minor=4999, device_type="mobile") for _ in range(100)],
        )
        for _ in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rng = random.Random(5)
    enrich_us = enrichment_cost(200_000, rng)
    with BenchStack(Path(tempfile.mkdtemp(prefix="carthouse-fraud-")) / "data") as stack, \
            grpc.insecure_channel(stack.target) as channel:
        stub = fraud_pb2_grpc.FraudServiceStub(channel)
        requests = fraud_requests(200, rng)
        checked = 0
        started = time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            stub.Check(requests[checked // 100 % len(requests)])
            checked += 100
        elapsed = time.perf_counter() - started
    print(f"enrichment: {enrich_us:.2f} us/event (in-process, cached parses)")
    print(f"FraudService.Check: {elapsed / checked * 1e6:.1f} us/event round trip on 100-event batches "
          f"({checked / elapsed:,.0f} events/s from one client)")
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
