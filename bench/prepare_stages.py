"""Where an ingest worker's CPU goes, stage by stage: the ingest benchmark's 100-event batches
(bench/ingest_grpc.py) through each step of services/ingest/prepare.py in this one process, each stage timed
over every event (best of --repeats), then prepare() whole and the pickling of its answer (what crosses back to
the main process). Publishable key, every event in the base currency, enrichment on.

    .venv/bin/python bench/prepare_stages.py [--batches 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_grpc import build_requests  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.tenancy.fraud_settings import FraudSettings  # noqa: E402
from carthouse.v1 import ingest_pb2  # noqa: E402
from services.ingest.amounts import EventAmounts, oversized_items  # noqa: E402
from services.ingest.fraud_check import CheckColumns  # noqa: E402
from services.ingest.model import RequestContext  # noqa: E402
from services.ingest.prepare import PrepareJob, prepare  # noqa: E402
from services.ingest.rows import build_row, clickhouse_time  # noqa: E402
from services.ingest.translate import event_from_proto  # noqa: E402
from services.ingest.validation import Limits, validate_event  # noqa: E402
from tests.support.stack_process import machine_line  # noqa: E402

BASE = "USD"
REQUEST = RequestContext(ip="203.0.113.9", user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0")


def best_per_event(run: Callable[[], Any], events: int, repeats: int) -> tuple[float, Any]:
    """µs per event of the fastest of ``repeats`` runs, and that run's answer."""
    best, answer = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        answer = run()
        best = min(best, time.perf_counter() - started)
    return best / events * 1e6, answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=200, help="100-event batches (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each stage; the fastest counts (default 3)")
    args = parser.parse_args()
    payloads = build_requests(args.batches, "ck_pub_bench", seed=1)
    now = datetime.now(UTC)
    events_total = args.batches * 100
    limits = Limits(now=now, is_secret_key=False, retention_days=365)
    now_text = clickhouse_time(now)
    figures: dict[str, float] = {}

    def stage(name: str, run: Callable[[], Any]) -> Any:
        figures[name], answer = best_per_event(run, events_total, args.repeats)
        print(f"  {name:<28} {figures[name]:6.2f} µs/event", flush=True)
        return answer

    print(f"{events_total:,} events in {args.batches} batches, best of {args.repeats}:")
    messages = stage("parse_batch", lambda: [m for p in payloads for m in ingest_pb2.BatchRequest.FromString(p).events])
    events = stage("proto_to_event", lambda: [event_from_proto(m) for m in messages])
    moments = stage("validate", lambda: [validate_event(e, limits) or now for e in events])
    amounts = [EventAmounts(BASE) for _ in events]
    stage("oversized_items", lambda: [oversized_items(e, a, BASE) for e, a in zip(events, amounts, strict=True)])
    stage("event_time_text", lambda: [clickhouse_time(moment) for moment in moments])
    stage("build_row", lambda: [
        build_row(e, appspace_id="as_bench", base_currency=BASE, event_time=now_text, received_at=now_text,
                  key_kind="publishable", request=REQUEST, amounts=a, seq=n % 100)
        for n, (e, a) in enumerate(zip(events, amounts, strict=True))])

    def fraud_columns() -> bytes:
        columns = CheckColumns(FraudSettings.from_overrides({}))
        for n, (e, a, moment) in enumerate(zip(events, amounts, moments, strict=True)):
            columns.add(n, e, a, moment, REQUEST, False, BASE, True)
        return columns.serialized("as_bench", False, BASE, {})

    stage("fraud_columns", fraud_columns)
    jobs = [PrepareJob(payload=p, is_batch=True, appspace_id="as_bench", base_currency=BASE, retention_days=365,
                       key_kind="publishable", now=now, request=REQUEST) for p in payloads]
    answers = stage("prepare_whole", lambda: [prepare(job) for job in jobs])
    blobs = stage("pickle_answer", lambda: [pickle.dumps(answer) for answer in answers])
    stage("unpickle_answer", lambda: [pickle.loads(blob) for blob in blobs])
    print(machine_line())
    record("prepare_stages", {"events": events_total, **figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
