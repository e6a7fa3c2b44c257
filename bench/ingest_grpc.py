"""Ingest throughput through IngestService.Batch over gRPC: 100-event batches, concurrent clients,
embedded store (chdb) and a real redis-server, the stack in its own process as `make run` starts it.

    .venv/bin/python bench/ingest_grpc.py [--seconds 60] [--concurrency 32]

Prints events/s acknowledged, then stops the stack and counts the rows in ClickHouse to check that
every acknowledged event was stored (no loss, no duplicates).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import record  # noqa: E402
from carthouse.v1 import events_pb2, ingest_pb2  # noqa: E402
from tests.support.stack_process import StackProcess, count_stored, machine_line  # noqa: E402

BATCH_METHOD = "/carthouse.v1.IngestService/Batch"
ITEM_TYPES = ["view_item", "view_item", "view_item", "add_to_cart", "add_to_cart", "remove_from_cart"]
PLAIN_TYPES = ["view_cart", "begin_checkout", "add_payment_info", "search"]


FOREIGN = ["EUR", "GBP", "JPY"]


def make_event(rng: random.Random, foreign_share: float = 0.0) -> events_pb2.EcommerceEvent:
    roll = rng.random()
    user_number = rng.randrange(50_000)
    user = f"user_{user_number}"
    item = events_pb2.Item(item_id=f"sku_{rng.randrange(2_000)}", item_name="Product", item_category="Apparel",
                           price=round(rng.uniform(5, 200), 2), quantity=rng.randrange(1, 4))
    if roll < 0.10:
        event = events_pb2.EcommerceEvent(event_type="purchase", transaction_id=f"order_{uuid.uuid4().hex}",
                                          revenue=round(rng.uniform(10, 500), 2), currency="USD", user_id=user,
                                          items=[item, item], shipping=4.99, tax=1.25)
    elif roll < 0.75:
        event = events_pb2.EcommerceEvent(event_type=rng.choice(ITEM_TYPES), user_id=user, items=[item])
    else:
        event = events_pb2.EcommerceEvent(event_type=rng.choice(PLAIN_TYPES), user_id=user)
    if foreign_share and rng.random() < foreign_share:
        event.currency = rng.choice(FOREIGN)
    event.properties.update({"campaign": rng.choice(["spring", "summer", "brand"]), "source": "email"})
    event.context.user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
    # Each shopper has an address of their own (a bench client's 127.0.0.1 for all would trip IP velocity).
    event.context.ip = f"81.{user_number % 200 + 2}.{user_number // 200 % 256}.{user_number % 7 + 1}"
    return event


def build_requests(count: int, api_key: str, seed: int = 7, foreign_share: float = 0.0) -> list[bytes]:
    rng = random.Random(seed)
    return [ingest_pb2.BatchRequest(events=[make_event(rng, foreign_share) for _ in range(100)], api_key=api_key)
            .SerializeToString() for _ in range(count)]


async def drive(target: str, requests: list[bytes], concurrency: int, seconds: float) -> tuple[int, int, float]:
    """Send pre-serialized batches with ``concurrency`` requests in flight; returns (events, errors, seconds)."""
    channels = [grpc.aio.insecure_channel(target) for _ in range(4)]
    calls = [ch.unary_unary(BATCH_METHOD, response_deserializer=ingest_pb2.BatchResponse.FromString)
             for ch in channels]
    accepted = 0
    errors = 0
    cursor = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(index: int) -> None:
        nonlocal accepted, errors, cursor
        call = calls[index % len(calls)]
        while time.perf_counter() < deadline and cursor < len(requests):
            body = requests[cursor]
            cursor += 1
            try:
                response = await call(body, timeout=30)
                accepted += response.accepted
            except grpc.aio.AioRpcError:
                errors += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    for ch in channels:
        await ch.close()
    return accepted, errors, elapsed


@dataclass
class IngestRun:
    rate: float
    accepted: int
    errors: int
    elapsed: float
    stored: int
    blocked: int
    warm_accepted: int

    @property
    def consistent(self) -> bool:
        """Every acknowledged event is stored or (silently) blocked, none twice."""
        return self.stored + self.blocked == self.accepted + self.warm_accepted and self.errors == 0


def run_ingest(seconds: float, concurrency: int, warmup: float, foreign: float = 0.0,
               command: list[str] | None = None) -> IngestRun:
    """``command``: what runs the stack instead of `carthouse run` (bench/unchecked_stack.py)."""
    with tempfile.TemporaryDirectory(prefix="carthouse-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        with StackProcess(data_dir, command=command) as stack:
            keys = stack.create_appspace()
            budget = int((seconds + warmup) * 400) + concurrency
            print(f"building {budget} batches of 100 events ...", flush=True)
            requests = build_requests(budget, keys["publishable_key"], foreign_share=foreign)
            warm = max(concurrency, int(warmup * 200))
            warm_accepted, _, _ = asyncio.run(drive(stack.target, requests[:warm], concurrency, warmup))
            print(f"measuring for {seconds:.0f} s with {concurrency} requests in flight ...", flush=True)
            accepted, errors, elapsed = asyncio.run(drive(stack.target, requests[warm:], concurrency, seconds))
        stored, blocked = count_stored(data_dir, keys["appspace_id"])
    return IngestRun(accepted / elapsed, accepted, errors, elapsed, stored, blocked, warm_accepted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured duration (default 60)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (default 64)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured warm-up seconds (default 3)")
    parser.add_argument("--foreign", type=float, default=0.0,
                        help="share of events in EUR, GBP or JPY, converted through FxService (default 0)")
    args = parser.parse_args()
    run = run_ingest(args.seconds, args.concurrency, args.warmup, args.foreign)
    print(f"\ningest over gRPC Batch: {run.rate:,.0f} events/s ({run.accepted:,} events in {run.elapsed:.1f} s, "
          f"{run.errors} failed requests, concurrency {args.concurrency}, {args.foreign:.0%} in foreign currencies)")
    print(f"stored rows after shutdown: {run.stored:,} + {run.blocked:,} blocked by fraud rules "
          f"(acknowledged: {run.accepted + run.warm_accepted:,} incl. warm-up)")
    print(machine_line())
    record("ingest_grpc", {"events_per_s": run.rate, "accepted": run.accepted, "seconds": run.elapsed,
                           "concurrency": args.concurrency, "stored": run.stored, "blocked": run.blocked,
                           "errors": run.errors, "consistent": run.consistent})
    return 0 if run.consistent else 1


if __name__ == "__main__":
    sys.exit(main())
