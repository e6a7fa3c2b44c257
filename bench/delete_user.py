"""How long a GDPR deletion takes on a generated data set (bench/generate.py): the busiest user of the large
appspace is deleted with the same function the background worker runs (a mutation on every table of
services/analytics/deletions.py TABLES, waited for), then the rows are counted again.

    .venv/bin/python bench/delete_user.py --data-dir /tmp/carthouse-10m
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import record  # noqa: E402
from carthouse.config import Settings  # noqa: E402
from carthouse.store import open_store  # noqa: E402
from carthouse.store.migrate import migrate  # noqa: E402
from services.analytics import deletions  # noqa: E402
from tests.support.stack_process import machine_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    appspace = json.loads((args.data_dir / "keys.json").read_text())[0]["appspace_id"]
    store = open_store(Settings(data_dir=args.data_dir))
    migrate(store)
    user = store.scalar("SELECT user_id FROM events WHERE appspace_id = {a:String} GROUP BY user_id "
                        "ORDER BY count() DESC LIMIT 1", {"a": appspace})
    total = store.scalar("SELECT count() FROM events")
    started = time.perf_counter()
    rows, _ = deletions.delete_user(store, None, appspace, user)
    elapsed = time.perf_counter() - started
    left = deletions.count_rows(store, appspace, user)
    print(f"deleted user {user}: {rows} rows in {len(deletions.TABLES)} tables removed in {elapsed:.1f} s "
          f"from a store of {total:,} events; rows left: {left}")
    print(machine_line())
    store.close()
    record("delete_user", {"events_in_store": total, "rows_removed": rows, "seconds": elapsed, "rows_left": left})
    return 0 if left == 0 and elapsed <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
