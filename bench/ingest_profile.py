"""Where an event's CPU goes: `carthouse run` under REST ingest load (bench/ingest_rest.py's batches, 64
connections), the CPU time of every process of the stack and of every thread of the main one read from /proc
before and after, divided by the events stored. The main process's threads are told apart by the names the
kernel has for them: ClickHouse names its own (the INSERT pipeline, merges, background pools); Python's threads
(the gRPC event loop, dedup, the writer) carry the process's name.

    .venv/bin/python bench/ingest_profile.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_grpc import build_requests  # noqa: E402
from bench.ingest_rest import drive_http, http_requests  # noqa: E402
from bench.results import record  # noqa: E402
from tests.support.stack_process import StackProcess, machine_line  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def process_kind(process: psutil.Process, main_pid: int) -> str:
    command = " ".join(process.cmdline())
    if process.pid == main_pid:
        return "main"
    if "redis-server" in command:
        return "redis-server"
    if "gateway" in command:
        return "REST gateway (HTTP, JSON to protobuf)"
    if "resource_tracker" in command:
        return "multiprocessing resource tracker"
    if "multiprocessing" in command:
        # Both are spawned; FraudService is the one that serves gRPC.
        listening = any(c.status == psutil.CONN_LISTEN for c in process.net_connections(kind="tcp"))
        return "FraudService (rules, velocity)" if listening else "ingest workers (validation, enrichment, rows)"
    return command[:60]


def thread_kind(name: str, main_name: str) -> str:
    if name == main_name or name.startswith(("python", "carthouse")):
        return "main: Python (gRPC loop, auth, dedup, quota, writer)"
    if name.startswith(("grpc", "event_engine", "default-executo", "resolver-execut")):
        return "main: gRPC core threads"
    if name.startswith(("MergeMutate", "BgSchPool", "BgStrmSchPool", "BgMBSchPool", "Fetch", "Move")):
        return "main: ClickHouse background (merges, moves, schedules)"
    if name.startswith(("jemalloc", "MemoryWorker")):
        return "main: memory management"
    return "main: ClickHouse queries (INSERT parsing, views, part writes)"


def thread_times(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid`` by its name."""
    found: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[name] += (int(fields[11]) + int(fields[12])) / TICKS
    return found


def snapshot(main_pid: int) -> dict[str, float]:
    main = psutil.Process(main_pid)
    main_name = (Path(f"/proc/{main_pid}/comm")).read_text().strip()
    seconds: dict[str, float] = defaultdict(float)
    for name, cpu in thread_times(main_pid).items():
        seconds[thread_kind(name, main_name)] += cpu
    for child in main.children(recursive=True):
        try:
            times = child.cpu_times()
            seconds[process_kind(child, main_pid)] += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        stack = StackProcess(Path(scratch) / "data").start()
        try:
            keys = stack.create_appspace()
            requests = http_requests(build_requests(int(args.seconds * 300) + 300, keys["secret_key"]),
                                     keys["secret_key"], stack.http_port)
            asyncio.run(drive_http(stack.http_port, requests[:300], 64, 3.0))  # warm-up
            before = snapshot(stack.process.pid)
            sent, errors, took = asyncio.run(drive_http(stack.http_port, requests[300:], 64, args.seconds))
            after = snapshot(stack.process.pid)
        finally:
            stack.stop()
    spent = {kind: after[kind] - before.get(kind, 0.0) for kind in after}
    total = sum(spent.values())
    print(f"{sent:,} events in {took:.1f} s = {sent / took:,.0f} events/s ({errors} errors); "
          f"{total / took:.2f} of {os.cpu_count()} cores busy in the stack")
    print(f"{'where':<58} {'µs/event':>9} {'share':>7}")
    for kind, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{kind:<58} {seconds / sent * 1e6:9.1f} {seconds / total * 100:6.1f} %")
    print(f"{'all':<58} {total / sent * 1e6:9.1f}")
    print(machine_line())
    record("ingest_profile", {"events_per_s": sent / took, "cpu_us_per_event": total / sent * 1e6,
                              **{kind: round(seconds / sent * 1e6, 2) for kind, seconds in spent.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
