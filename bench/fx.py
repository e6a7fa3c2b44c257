"""FxService.Convert throughput: batches of 100 amounts in mixed currencies and days, over gRPC against the
stack's FxService (bundled ECB rates, cached after the first use of each day).

    .venv/bin/python bench/fx.py [--seconds 15] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import record  # noqa: E402
from carthouse.v1 import fx_pb2  # noqa: E402
from tests.support.stack_process import StackProcess, machine_line  # noqa: E402

CURRENCIES = ["EUR", "GBP", "JPY", "CHF", "SEK", "ISK", "PLN", "CAD", "AUD", "USD"]


def build(count: int, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [
        fx_pb2.ConvertAmountsRequest(
            base_currency="USD",
            amounts=[
                fx_pb2.Amount(amount=f"{rng.uniform(1, 500):.2f}", currency=rng.choice(CURRENCIES),
                              event_time=(now - timedelta(days=rng.randrange(30))).isoformat())
                for _ in range(100)
            ],
        ).SerializeToString()
        for _ in range(count)
    ]


async def drive(target: str, requests: list[bytes], concurrency: int, seconds: float) -> tuple[int, int, float]:
    channel = grpc.aio.insecure_channel(target)
    call = channel.unary_unary("/carthouse.v1.FxService/ConvertAmounts",
                               response_deserializer=fx_pb2.ConvertAmountsResponse.FromString)
    converted = errors = cursor = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal converted, errors, cursor
        while time.perf_counter() - started < seconds:
            body = requests[cursor % len(requests)]
            cursor += 1
            response = await call(body, timeout=30)
            converted += sum(1 for r in response.results if not r.error)
            errors += sum(1 for r in response.results if r.error)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await channel.close()
    return converted, errors, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carthouse-fx-") as scratch, \
            StackProcess(Path(scratch) / "data") as stack:
        requests = build(500)
        asyncio.run(drive(stack.target, requests, args.concurrency, 2.0))  # first use of each day's rates
        converted, errors, elapsed = asyncio.run(drive(stack.target, requests, args.concurrency, args.seconds))
    print(f"FxService.ConvertAmounts: {converted / elapsed:,.0f} amounts/s ({converted / elapsed / 100:,.0f} "
          f"requests/s of 100 amounts, {errors} conversion errors, concurrency {args.concurrency})")
    print(machine_line())
    record("fx", {"amounts_per_s": converted / elapsed, "errors": errors, "concurrency": args.concurrency,
                  "seconds": args.seconds})
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
