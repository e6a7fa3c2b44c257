"""Soak: ingest and queries together at a fixed rate for a long time (default 10 minutes) against a real
`carthouse run`; every 10 s it records throughput, p50/p95/p99 latency, errors and the stack's memory (RSS
of every process: the stack, gateway, ingest workers, FraudService, redis-server).

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 2000] [--warmup 3] [--out soak.json]

Ingest is open-loop: a 100-event batch is sent every 100/rate seconds whatever the answers take, so a slow
server shows as latency, not as a lower offered load. RSS must stay flat: the services' RSS (every process
but redis-server, reported apart) in the last minute at most 10 % above the first minute after the warm-up.

The stack runs with the embedded engine's cache of decompressed blocks off (--cache-mb 0) unless asked
otherwise: that cache (1 GiB by default, CARTHOUSE_CHDB_CACHE_MB) fills under the soak's reads for many minutes
and grows RSS by up to its size, which is memory the configuration grants, not a leak (docs/RELIABILITY.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import record  # noqa: E402
from tests.support.stack_process import StackProcess, machine_line  # noqa: E402

BATCH = "/v1/api/analytics/ecommerce/batch"
QUERIES = ["overview", "revenue-timeseries", "top-products", "funnel", "revenue-by-device", "cart-abandonment",
           "revenue-by-channel"]
SAMPLE_SECONDS = 10
RSS_GROWTH_LIMIT = 0.10


@dataclass
class Window:
    ingest_ms: list[float] = field(default_factory=list)
    query_ms: list[float] = field(default_factory=list)
    events: int = 0
    errors: int = 0


def batch_body(n: int = 100) -> dict[str, object]:
    events = []
    for i in range(n):
        user = f"user-{uuid.uuid4().hex[:12]}"
        if i % 10 == 0:
            events.append({"event_type": "purchase", "transaction_id": uuid.uuid4().hex, "revenue": 42.5,
                           "currency": "USD", "user_id": user,
                           "items": [{"item_id": f"sku-{i % 37}", "price": 42.5, "quantity": 1}],
                           "properties": {"campaign": "soak"}})
        else:
            events.append({"event_type": "view_item" if i % 3 else "add_to_cart", "user_id": user,
                           "items": [{"item_id": f"sku-{i % 37}", "price": 42.5}]})
    return {"events": events}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def process_rss(root: psutil.Process) -> dict[str, float]:
    """RSS in MiB of the stack and each of its child processes, by role."""
    roles: dict[str, float] = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            cmd = " ".join(proc.cmdline())
            rss = proc.memory_info().rss / 2**20
        except psutil.Error:
            continue
        role = ("redis" if "redis-server" in cmd else "gateway" if cmd.endswith(" gateway")
                else "stack" if proc.pid == root.pid else "child")
        roles[role] = roles.get(role, 0.0) + rss
    roles["total"] = sum(roles.values())
    return roles


async def soak(stack: StackProcess, key: str, minutes: float, rate: float) -> list[dict[str, object]]:
    window = Window()
    samples: list[dict[str, object]] = []
    failures: list[str] = []
    begun = time.monotonic()
    deadline = begun + minutes * 60
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"X-API-Key": key}, timeout=30,
                                 limits=limits) as http:

        def failed(what: str, detail: str) -> None:
            """Say what failed (the first 20), so that a run's errors can be explained."""
            window.errors += 1
            if len(failures) < 20:
                failures.append(f"t={time.monotonic() - begun:.0f}s {what}: {detail}")
                print(f"error: {failures[-1]}", file=sys.stderr, flush=True)

        async def send_batch() -> None:
            started = time.perf_counter()
            try:
                response = await http.post(BATCH, json=batch_body())
                ok = response.status_code == 200
                detail = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            window.ingest_ms.append((time.perf_counter() - started) * 1000)
            if ok:
                window.events += 100
            else:
                failed("POST batch", detail)

        async def ingest_loop() -> None:
            interval = 100 / rate
            tick = time.monotonic()
            tasks: set[asyncio.Task[None]] = set()
            while tick < deadline:
                task = asyncio.create_task(send_batch())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                tick += interval
                await asyncio.sleep(max(0.0, tick - time.monotonic()))
            await asyncio.gather(*tasks)

        async def query_loop() -> None:
            n = 0
            while time.monotonic() < deadline:
                started = time.perf_counter()
                query = QUERIES[n % len(QUERIES)]
                try:
                    response = await http.get(f"/v1/api/analytics/ecommerce/{query}", params={"days": 7})
                    ok = response.status_code == 200
                    detail = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                window.query_ms.append((time.perf_counter() - started) * 1000)
                if not ok:
                    failed(f"GET {query}", detail)
                n += 1
                await asyncio.sleep(0.25)

        async def sampler() -> None:
            nonlocal window
            root = psutil.Process(stack.process.pid)  # type: ignore[union-attr]
            started = time.monotonic()
            while time.monotonic() < deadline:
                await asyncio.sleep(SAMPLE_SECONDS)
                done, window = window, Window()
                sample = {
                    "t": round(time.monotonic() - started), "events_per_s": round(done.events / SAMPLE_SECONDS),
                    "ingest_p50_ms": round(percentile(done.ingest_ms, 0.5), 1),
                    "ingest_p95_ms": round(percentile(done.ingest_ms, 0.95), 1),
                    "ingest_p99_ms": round(percentile(done.ingest_ms, 0.99), 1),
                    "query_p50_ms": round(percentile(done.query_ms, 0.5), 1),
                    "query_p95_ms": round(percentile(done.query_ms, 0.95), 1),
                    "query_p99_ms": round(percentile(done.query_ms, 0.99), 1),
                    "errors": done.errors, "rss_mib": {k: round(v) for k, v in process_rss(root).items()},
                }
                samples.append(sample)
                print(json.dumps(sample), flush=True)

        await asyncio.gather(ingest_loop(), query_loop(), sampler())
    return samples


def services_rss(sample: dict[str, object]) -> float:
    """RSS of Carthouse's own processes: everything but redis-server, whose memory is the data it holds by
    design (24-hour dedup keys, velocity windows) and grows with the number of distinct orders until the
    keys expire; it is reported on its own."""
    rss = sample["rss_mib"]
    return float(rss["total"]) - float(rss.get("redis", 0))  # type: ignore[index,union-attr]


def summary(samples: list[dict[str, object]], warmup_minutes: float) -> dict[str, object]:
    """Growth = median RSS of the last minute over the median of the first minute after the warm-up: a leak
    shows as a trend, while single samples swing with merges and query buffers (the peak is reported too)."""
    warm = [s for s in samples if int(s["t"]) > warmup_minutes * 60]  # type: ignore[arg-type]
    minute = 60 // SAMPLE_SECONDS
    first = statistics.median(services_rss(s) for s in warm[:minute]) if warm else 0.0
    last = statistics.median(services_rss(s) for s in warm[-minute:]) if warm else 0.0
    growth = (last - first) / first if first else 0.0
    return {
        "events_per_s_mean": round(statistics.mean(int(s["events_per_s"]) for s in samples)),  # type: ignore[arg-type]
        "ingest_p95_ms_worst": max(float(s["ingest_p95_ms"]) for s in samples),  # type: ignore[arg-type]
        "query_p95_ms_worst": max(float(s["query_p95_ms"]) for s in samples),  # type: ignore[arg-type]
        "errors": sum(int(s["errors"]) for s in samples),  # type: ignore[arg-type]
        "services_rss_first_minute_mib": first, "services_rss_last_minute_mib": last,
        "services_rss_peak_mib": max((services_rss(s) for s in warm), default=0.0),
        "rss_growth_pct": round(growth * 100, 1), "rss_flat": growth <= RSS_GROWTH_LIMIT,
        "redis_rss_mib": [warm[0]["rss_mib"]["redis"], warm[-1]["rss_mib"]["redis"]] if warm else [],  # type: ignore[index]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second offered (100-event batches)")
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes before RSS must stay flat")
    parser.add_argument("--out", type=Path, help="write the samples and the summary here as JSON")
    parser.add_argument("--cache-mb", type=int, default=0,
                        help="the stack's block cache (CARTHOUSE_CHDB_CACHE_MB; 1024 is the product's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carthouse-soak-") as scratch, \
            StackProcess(Path(scratch) / "data", env={"CARTHOUSE_CHDB_CACHE_MB": str(args.cache_mb)}) as stack:
        key = stack.create_appspace()["secret_key"]
        print(f"soak: {args.minutes} min at {args.rate:.0f} events/s offered, queries every 0.25 s; "
              f"block cache {args.cache_mb} MiB; stack in {scratch} (removed at the end)", flush=True)
        samples = asyncio.run(soak(stack, key, args.minutes, args.rate))
        if any(int(s["errors"]) for s in samples):  # type: ignore[arg-type]
            # What the stack logged about it, before its directory goes.
            logged = [line for line in stack.log_path.read_text(errors="replace").splitlines()
                      if "ERROR" in line or "WARNING" in line or "Traceback" in line]
            print("stack log (errors and warnings):", *logged[-40:], sep="\n", file=sys.stderr)
    result = summary(samples, args.warmup)
    print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps({"samples": samples, "summary": result}, indent=1))
    print(machine_line())
    record("soak", {"minutes": args.minutes, "offered_events_per_s": args.rate, "cache_mb": args.cache_mb,
                    **{key: value for key, value in result.items() if not isinstance(value, (list, dict))}})
    return 0 if result["rss_flat"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
