"""Ingest against the raw engine, in one run: the raw engine's rates (bench/ingest_raw.py: the same rows straight
into chdb, live and a year of timestamps), then `carthouse run` fed live REST, live gRPC and backdated REST
(a year of timestamps, secret key) in turn, 64 requests in flight. Targets (ratios of the same run): live
REST >= 0.35 x raw, gRPC >= 0.45 x raw, backdated REST >= 0.8 x live REST.

    .venv/bin/python bench/ingest_ratios.py [--seconds 60] [--events 200000]

Each load runs longer than the analytics workers' round interval (services/analytics/background.py), so that
the rounds' cost is in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_history import backdated_events  # noqa: E402
from bench.ingest_grpc import build_requests, drive  # noqa: E402
from bench.ingest_raw import insert_rate, prepared_lines  # noqa: E402
from bench.ingest_rest import drive_http, http_requests  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.v1 import events_pb2, ingest_pb2  # noqa: E402
from tests.support.stack_process import StackProcess, machine_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each kind of load (default 60)")
    parser.add_argument("--events", type=int, default=200_000, help="rows of each raw insert run (default 200,000)")
    args = parser.parse_args()
    batches = int(args.seconds * 300) + 200
    with tempfile.TemporaryDirectory() as scratch:
        print("raw engine ...", flush=True)
        raw = insert_rate(prepared_lines(args.events, False, 7), Path(scratch) / "raw")
        raw_backdated = insert_rate(prepared_lines(args.events, True, 8), Path(scratch) / "raw")
        with StackProcess(Path(scratch) / "data") as stack:
            keys = stack.create_appspace()
            public, secret = keys["publishable_key"], keys["secret_key"]
            live = http_requests(build_requests(batches, public, seed=1), public, stack.http_port)
            asyncio.run(drive_http(stack.http_port, live[:200], 64, 3.0))  # warm-up
            print("live REST ...", flush=True)
            rest, _, rest_s = asyncio.run(drive_http(stack.http_port, live[200:], 64, args.seconds))
            print("live gRPC ...", flush=True)
            grpc_events, _, grpc_s = asyncio.run(drive(stack.target, build_requests(batches, public, seed=2), 64,
                                                       args.seconds))
            print("backdated REST ...", flush=True)
            old = [ingest_pb2.BatchRequest(events=[json_format.ParseDict(e, events_pb2.EcommerceEvent())
                                                   for e in backdated_events(100, seed)]).SerializeToString()
                   for seed in range(batches)]
            back, _, back_s = asyncio.run(drive_http(stack.http_port, http_requests(old, secret, stack.http_port),
                                                     64, args.seconds))
    rates = {"raw": raw, "raw_backdated": raw_backdated, "rest": rest / rest_s, "grpc": grpc_events / grpc_s,
             "rest_backdated": back / back_s}
    ratios = {"rest_of_raw": rates["rest"] / raw, "grpc_of_raw": rates["grpc"] / raw,
              "backdated_of_live": rates["rest_backdated"] / rates["rest"]}
    for name, rate in rates.items():
        print(f"{name:<15} {rate:10,.0f} events/s")
    targets = {"rest_of_raw": 0.35, "grpc_of_raw": 0.45, "backdated_of_live": 0.8}
    for name, ratio in ratios.items():
        print(f"{name:<18} {ratio:5.2f}  (target >= {targets[name]}) {'met' if ratio >= targets[name] else 'NOT met'}")
    print(machine_line())
    record("ingest_ratios", {**rates, **ratios})
    return 0 if all(ratios[name] >= targets[name] for name in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
