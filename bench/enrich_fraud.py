"""What enrichment and fraud checking cost.

1. Enrichment (ua-parser + iptocc) per event, in-process as the ingest workers run it.
2. FraudService.CheckEvents per event over gRPC on 100-event batches (30 % purchases, so velocity is counted in
   Redis), against FraudService in its process as the embedded stack runs it, with a real redis-server.
3. The ingest benchmark (bench/ingest_grpc.py) against `carthouse run` and against the same stack with both
   left out (bench/unchecked_stack.py injects them through the composition root), alternating, --rounds times
   each; the drop must stay within 15 %.

    .venv/bin/python bench/enrich_fraud.py [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.fraud_process import fraud_process  # noqa: E402
from app.redis_server import RedisServer  # noqa: E402
from bench.ingest_grpc import run_ingest  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.v1 import fraud_pb2, fraud_pb2_grpc  # noqa: E402
from services.ingest.enrichment import classify_user_agent, country_of  # noqa: E402
from tests.support.stack_process import machine_line  # noqa: E402

USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 Chrome/116.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/117.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
UNCHECKED = [sys.executable, str(Path(__file__).resolve().parent / "unchecked_stack.py")]


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


def fraud_requests(count: int, rng: random.Random) -> list[fraud_pb2.CheckEventsRequest]:
    """100-event requests as ingest builds them: 30 % purchases, each user with an address of their own."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    requests = []
    for _ in range(count):
        users = [rng.randrange(50_000) for _ in range(100)]
        kinds = ["purchase" if rng.random() < 0.3 else "add_to_cart" for _ in users]
        requests.append(fraud_pb2.CheckEventsRequest(batches=[fraud_pb2.EventBatch(
            appspace_id="as_bench", base_digits=2, event_types=kinds, event_times_ms=[now_ms] * 100,
            actors=[f"user_{u}" for u in users], transaction_ids=[uuid.uuid4().hex for _ in users],
            currencies=["USD"] * 100, revenues_minor=[4999 if k == "purchase" else -1 for k in kinds],
            expected_minor=[5872 if k == "purchase" else -1 for k in kinds],
            velocity_ips=[f"81.2.{u % 256}.9" for u in users], bots=[False] * 100,
            user_agents_from_sender=[False] * 100,
        )]))
    return requests


def fraud_cost(seconds: float, rng: random.Random) -> tuple[float, float]:
    """(microseconds per event, events/s) of FraudService.CheckEvents from one client, 100-event batches."""
    with tempfile.TemporaryDirectory(prefix="carthouse-fraud-") as scratch:
        redis = RedisServer(Path(scratch)).start()
        with fraud_process(redis.url) as target, grpc.insecure_channel(target) as channel:
            stub = fraud_pb2_grpc.FraudServiceStub(channel)
            requests = fraud_requests(300, rng)
            checked = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                stub.CheckEvents(requests[checked // 100 % len(requests)])
                checked += 100
            elapsed = time.perf_counter() - started
        redis.stop()
    return elapsed / checked * 1e6, checked / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="each ingest run's measured seconds")
    parser.add_argument("--rounds", type=int, default=2, help="ingest runs per setting, alternating (default 2)")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    rng = random.Random(5)
    enrich_us = enrichment_cost(200_000, rng)
    fraud_us, fraud_rate = fraud_cost(10.0, rng)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for label, command in (("off", UNCHECKED), ("on", None)):
            run = run_ingest(args.seconds, args.concurrency, 3.0, command=command)
            if not run.consistent:
                print(f"inconsistent run ({label}): {run}")
                return 1
            rates[label].append(run.rate)
            print(f"  ingest with enrichment+fraud {label}: {run.rate:,.0f} events/s "
                  f"({run.blocked} blocked)", flush=True)
    off, on = statistics.mean(rates["off"]), statistics.mean(rates["on"])
    print(f"\nenrichment: {enrich_us:.2f} us/event (in-process, cached parses)")
    print(f"FraudService.CheckEvents: {fraud_us:.1f} us/event round trip on 100-event batches "
          f"({fraud_rate:,.0f} events/s from one client)")
    print(f"ingest, enrichment+fraud off: {off:,.0f} events/s {[round(r) for r in rates['off']]}")
    print(f"ingest, enrichment+fraud on:  {on:,.0f} events/s {[round(r) for r in rates['on']]}")
    print(f"drop: {(1 - on / off):.1%} (limit 15 %)")
    print(machine_line())
    record("enrich_fraud", {"enrichment_us_per_event": enrich_us, "fraud_check_us_per_event": fraud_us,
                            "ingest_unchecked_events_per_s": off, "ingest_checked_events_per_s": on,
                            "drop": 1 - on / off, "rounds": args.rounds, "seconds": args.seconds})
    return 0 if on >= 0.85 * off else 1


if __name__ == "__main__":
    sys.exit(main())
