"""History imports: `carthouse import` of an NDJSON file of a year of events next to the same kind of events sent
as REST batches with backdated timestamps, in the same run against the same stack (`carthouse run` in its own
process). Target (issue: ingest at engine speed): the import at least twice the backdated REST rate.

    .venv/bin/python bench/import_history.py [--events 600000] [--seconds 60]

Both loads last longer than the analytics workers' round interval (services/analytics/background.py), so that
both pay for the rounds that store what they marked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_grpc import make_event  # noqa: E402
from bench.ingest_rest import drive_http, http_requests  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.v1 import events_pb2, ingest_pb2  # noqa: E402
from tests.support.stack_process import CLI, StackProcess, count_stored, machine_line  # noqa: E402


def backdated_events(count: int, seed: int) -> list[dict]:
    """Realistic events (bench/ingest_grpc.py's mix) spread over the last year, as the batch API's JSON."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events = []
    for _ in range(count):
        event = json_format.MessageToDict(make_event(rng), preserving_proto_field_name=True)
        moment = now - timedelta(seconds=rng.uniform(3 * 86_400, 360 * 86_400))
        event["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        events.append(event)
    return events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=600_000, help="rows in the imported file (default 600,000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of backdated REST load (default 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        stack = StackProcess(data_dir).start()
        try:
            rest_keys, import_keys = stack.create_appspace(), stack.create_appspace()
            batches = [ingest_pb2.BatchRequest(api_key=rest_keys["secret_key"], events=[
                json_format.ParseDict(e, events_pb2.EcommerceEvent()) for e in backdated_events(100, seed)])
                .SerializeToString() for seed in range(int(args.seconds * 200))]
            requests = http_requests(batches, rest_keys["secret_key"], stack.http_port)
            sent, errors, took = asyncio.run(drive_http(stack.http_port, requests, 64, args.seconds))
            rest_rate = sent / took
            print(f"backdated REST: {sent:,} events in {took:.1f} s = {rest_rate:,.0f} events/s ({errors} errors)")

            source = Path(scratch) / "history.ndjson"
            with source.open("w") as out:
                for event in backdated_events(args.events, seed=99):
                    out.write(json.dumps(event) + "\n")
            started = time.perf_counter()
            subprocess.run([*CLI, "--grpc", stack.target, "import", str(source), "--appspace",
                            import_keys["appspace_id"], "--quiet"], env=stack.env, check=True)
            import_seconds = time.perf_counter() - started
        finally:
            stack.stop()
        stored, blocked = count_stored(data_dir, import_keys["appspace_id"])
    import_rate = args.events / import_seconds
    print(f"carthouse import: {args.events:,} rows in {import_seconds:.1f} s = {import_rate:,.0f} rows/s; "
          f"{stored:,} stored, {blocked:,} blocked by the fraud rules")
    print(f"import / backdated REST: {import_rate / rest_rate:.2f} (target >= 2)")
    print(machine_line())
    record("import_history", {"events": args.events, "import_rows_per_s": import_rate,
                              "backdated_rest_events_per_s": rest_rate, "ratio": import_rate / rest_rate,
                              "stored": stored, "blocked": blocked})
    return 0 if import_rate >= 2 * rest_rate and stored + blocked == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
