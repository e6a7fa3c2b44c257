"""kill -9 of the embedded stack in the middle of `carthouse import`: the command stops and says how to go on, and
the same command run again against the restarted stack stores every row of the file exactly once and whole.
Real processes: `carthouse run` and `carthouse import`."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.importer import CHUNK, ImportState, state_path
from tests.faults.test_kill_restart import purchases_without_one_item
from tests.faults.unwritable import table_dirs
from tests.support.stack_process import CLI, StackProcess, query_stopped

pytestmark = pytest.mark.timeout(600)
ROWS = 3 * CHUNK


def history(path: Path) -> Path:
    """ROWS events over the last year: view_item, add_to_cart and a purchase of 10.00 with one item in turn."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=360)
    with path.open("w") as out:
        for n in range(ROWS):
            kind = ("view_item", "add_to_cart", "purchase")[n % 3]
            event = {"event_type": kind, "user_id": f"kill-{n % 500}", "items": [{"item_id": "sku_k", "price": 10}],
                     "timestamp": (start + timedelta(minutes=8 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            if kind == "purchase":
                event |= {"transaction_id": f"kill-o{n}", "revenue": 10}
            out.write(json.dumps(event) + "\n")
    return path


def parts(table_dir: Path) -> int:
    """The table's parts written so far (an INSERT of a year of history writes one per year it spans)."""
    return sum(1 for part in table_dir.iterdir() if part.is_dir() and part.name[:1].isdigit())


def importing(stack: StackProcess, source: Path, appspace_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "--grpc", stack.target, "import", str(source), "--appspace", appspace_id,
                             "--quiet"], env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_during_an_import_then_the_same_command_stores_every_row_once(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "data").start()
    source = history(tmp_path / "history.ndjson")
    try:
        shop = stack.create_appspace()
        command = importing(stack, source, shop["appspace_id"])
        events_dir = table_dirs(stack.data_dir, "carthouse", ["events"])[0]
        deadline = time.monotonic() + 120
        # Killed as soon as the first chunk's INSERT has written `events`: most often before every other table
        # (the views write side by side), and always before the command records the chunk's answer.
        while parts(events_dir) < 1:
            assert command.poll() is None, command.communicate()
            assert time.monotonic() < deadline, "the import never wrote"
            time.sleep(0.001)
        stack.kill()
        _, stopped = command.communicate(timeout=120)
        assert command.returncode == 1
        assert "run the same command again to go on from line" in stopped
        saved = ImportState.load(state_path(source), shop["appspace_id"]).line
        assert saved < ROWS
        (before,) = query_stopped(
            stack.data_dir, "SELECT (SELECT count() FROM events WHERE appspace_id = {a:String}) AS events, "
            "(SELECT count() FROM event_items WHERE appspace_id = {a:String}) AS items", {"a": shop["appspace_id"]})
        print(f"killed with {saved} rows answered, {before['events']} events and {before['items']} items stored")
        stack.start()
        again = importing(stack, source, shop["appspace_id"])
        summary, _ = again.communicate(timeout=300)
        assert again.returncode == 0, summary
        assert stack.stop() == 0
    finally:
        if stack.process is not None:
            stack.kill()
    (stored,) = query_stopped(stack.data_dir, "SELECT count() AS n, uniqExact(client_event_id) AS ids, "
                              "countIf(event_type = 'purchase') AS orders, sum(revenue) AS revenue FROM events "
                              "WHERE appspace_id = {a:String}", {"a": shop["appspace_id"]})
    assert (stored["n"], stored["ids"], stored["orders"], stored["revenue"]) == (ROWS, ROWS, ROWS // 3,
                                                                                 ROWS // 3 * 1000)
    assert purchases_without_one_item(stack.data_dir, shop["appspace_id"]) == 0
    (derived,) = query_stopped(stack.data_dir, "SELECT (SELECT count() FROM funnel_steps WHERE appspace_id = "
                               "{a:String}) AS steps, (SELECT count() FROM cart_activity WHERE appspace_id = "
                               "{a:String}) AS carts", {"a": shop["appspace_id"]})
    assert (derived["steps"], derived["carts"]) == (ROWS, ROWS // 3 * 2)
