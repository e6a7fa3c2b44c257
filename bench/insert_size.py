"""What the engine's CPU per row depends on: the rows ingest would write for a year of backdated events (prepared
once, before timing, by the ingest workers' own function), inserted into a fresh embedded store with every view in
INSERTs of each size given, one after another; the process's CPU time (the INSERTs' threads and the merges they
cause, counted until no merge is left) per row, and the rows per second of wall time; and what the writer's
journal note of such a group costs (services/ingest/journal.py: written before the INSERT, removed after it).

    .venv/bin/python bench/insert_size.py [--events 200000] [--sizes 4000,10000,20000,50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_raw import prepared_lines  # noqa: E402
from bench.results import record  # noqa: E402
from carthouse.store.chdb_backend import ChdbStore  # noqa: E402
from carthouse.store.migrate import migrate  # noqa: E402
from services.ingest.journal import GroupJournal  # noqa: E402
from services.ingest.storage import write_events  # noqa: E402
from tests.support.stack_process import machine_line  # noqa: E402


def cost(lines: list[bytes], size: int, data_dir: Path) -> tuple[float, float]:
    """(rows/s of wall time, µs of CPU per row) for INSERTs of ``size`` rows."""
    store = ChdbStore(data_dir, "sizes", pool_size=1)
    store.create_database()
    migrate(store)
    cpu, started = time.process_time(), time.perf_counter()
    for start in range(0, len(lines), size):
        write_events(store, lines[start:start + size], "")
    seconds = time.perf_counter() - started
    while store.scalar("SELECT count() FROM system.merges WHERE database = currentDatabase()"):
        time.sleep(0.2)
    used = time.process_time() - cpu
    assert store.scalar("SELECT count() FROM events") == len(lines)
    store.drop_database()
    return len(lines) / seconds, used / len(lines) * 1e6


def journal_cost(lines: list[bytes], size: int, directory: Path) -> float:
    """µs of CPU per row for noting each group of ``size`` rows in the writer's journal and removing the note."""
    journal = GroupJournal(directory)
    cpu = time.process_time()
    for number, start in enumerate(range(0, len(lines), size)):
        journal.begin(str(number), lines[start:start + size])
        journal.end(str(number))
    return (time.process_time() - cpu) / len(lines) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sizes", default="4000,10000,20000,50000", help="rows per INSERT, comma-separated")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    lines = prepared_lines(args.events, True, 8)
    figures: dict[str, object] = {"events": args.events}
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            rate, cpu = cost(lines, size, Path(scratch))
            noted = journal_cost(lines, size, Path(scratch) / "journal")
            print(f"{size:>7,} rows per INSERT: {rate:8,.0f} rows/s, {cpu:5.1f} µs of CPU per row; "
                  f"its journal note {noted:.2f} µs per row")
            figures |= {f"rows_per_s_{size}": rate, f"cpu_us_per_row_{size}": cpu, f"journal_us_per_row_{size}": noted}
    print(machine_line())
    record("insert_size", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
