"""The raw engine's rate: the rows ingest would write for bench/ingest_grpc.py's events (prepared once, before
timing, by the ingest workers' own function), inserted straight into a fresh embedded store in 10,000-row
INSERTs of JSONCompactEachRow, one after another, with every view; then the same for events spread over a
year of timestamps. The ceiling the ingest targets are ratios of (live REST >= 0.35 x, gRPC >= 0.45 x,
backdated >= 0.8 x live).

    .venv/bin/python bench/ingest_raw.py [--events 200000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_grpc import make_event  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.store.chdb_backend import ChdbStore  # noqa: E402
from carthouse.store.migrate import migrate  # noqa: E402
from carthouse.v1 import ingest_pb2  # noqa: E402
from services.ingest.model import RequestContext  # noqa: E402
from services.ingest.prepare import PrepareJob, prepare  # noqa: E402
from services.ingest.storage import write_events  # noqa: E402
from tests.support.stack_process import machine_line  # noqa: E402

INSERT_ROWS = 10_000


def prepared_lines(count: int, backdated: bool, seed: int) -> list[bytes]:
    """The events_ingest rows of ``count`` events, as the ingest workers encode them."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    lines: list[bytes] = []
    while len(lines) < count:
        events = [make_event(rng) for _ in range(100)]
        if backdated:
            for event in events:
                moment = now - timedelta(seconds=rng.uniform(3 * 86_400, 360 * 86_400))
                event.timestamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        job = PrepareJob(payload=ingest_pb2.BatchRequest(events=events).SerializeToString(), is_batch=True,
                         appspace_id="as_raw", base_currency="USD", retention_days=365, key_kind="secret",
                         now=now, request=RequestContext())
        lines += [row.line for row in prepare(job).rows]
    return lines[:count]


def insert_rate(lines: list[bytes], data_dir: Path) -> float:
    store = ChdbStore(data_dir, "raw", pool_size=1)
    store.create_database()
    migrate(store)
    started = time.perf_counter()
    for start in range(0, len(lines), INSERT_ROWS):
        write_events(store, lines[start:start + INSERT_ROWS], "")
    seconds = time.perf_counter() - started
    stored = int(store.query("SELECT count() AS n FROM events")[0]["n"])
    assert stored == len(lines), (stored, len(lines))
    store.drop_database()
    return len(lines) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    live, backdated = prepared_lines(args.events, False, 7), prepared_lines(args.events, True, 8)
    with tempfile.TemporaryDirectory() as scratch:
        live_rate = insert_rate(live, Path(scratch))
        backdated_rate = insert_rate(backdated, Path(scratch))
    print(f"raw engine, {args.events:,} rows in {INSERT_ROWS:,}-row INSERTs with every view: "
          f"live {live_rate:,.0f} rows/s, a year of timestamps {backdated_rate:,.0f} rows/s "
          f"({backdated_rate / live_rate:.2f})")
    print(machine_line())
    record("ingest_raw", {"events": args.events, "live_rows_per_s": live_rate,
                          "backdated_rows_per_s": backdated_rate})
    return 0


if __name__ == "__main__":
    sys.exit(main())
