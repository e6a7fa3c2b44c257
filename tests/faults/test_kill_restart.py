"""kill -9 of the whole embedded stack under load, then SIGTERM under load: every acknowledged event is in
ClickHouse exactly once, retries of unacknowledged batches are stored once, nothing is half-written, and a
SIGTERM finishes in-flight requests, flushes and exits 0. Real processes: `carthouse run` (gateway, ingest
workers, fraud service, redis-server) in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from services.analytics import deletions
from tests.faults.load import BATCH, BatchLoad, LoadResult, event_ids, make_batch
from tests.faults.unwritable import STORED_TABLES, immutable, table_dirs
from tests.support.stack_process import StackProcess, query_stopped

pytestmark = pytest.mark.timeout(600)


def wait_for_acknowledged(load: BatchLoad, events: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(load.result.acknowledged_ids()) < events:
        assert time.monotonic() < deadline, f"load stalled: {load.result.refusals[:3]}"
        time.sleep(0.05)


def retry(stack: StackProcess, api_key: str, batches: list[list[dict[str, object]]]) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30, headers={"X-API-Key": api_key}) as client:
        for batch in batches:
            response = client.post(BATCH, json={"events": batch})
            assert (response.status_code, response.json()) == (200, {"ok": True, "accepted": len(batch), "errors": []})


def send_unanswered(stack: StackProcess, api_key: str, batch: list[dict[str, object]]) -> None:
    """A request the stack will not answer (killed under it)."""
    with (httpx.Client(base_url=stack.base_url, timeout=30, headers={"X-API-Key": api_key}) as client,
          contextlib.suppress(httpx.HTTPError)):
        response = client.post(BATCH, json={"events": batch})
        assert response.status_code != 200, response.text


def stored_counts(data_dir: Path, appspace_id: str) -> dict[str, int]:
    rows = query_stopped(data_dir, "SELECT client_event_id AS id, count() AS n FROM events"
                                   " WHERE appspace_id = {a:String} GROUP BY id", {"a": appspace_id})
    return {str(row["id"]): int(row["n"]) for row in rows}


def purchases_without_one_item(data_dir: Path, appspace_id: str) -> int:
    """Purchases whose item row is missing or doubled, plus item rows without their event (half-writes)."""
    rows = query_stopped(data_dir, """
        SELECT countIf(ifNull(i.n, 0) != 1) AS bad_events,
               (SELECT count() FROM event_items WHERE appspace_id = {a:String}
                  AND event_id NOT IN (SELECT event_id FROM events WHERE appspace_id = {a:String})) AS orphans
        FROM (SELECT event_id FROM events WHERE appspace_id = {a:String} AND event_type = 'purchase') AS e
        LEFT JOIN (SELECT event_id, count() AS n FROM event_items WHERE appspace_id = {a:String} GROUP BY event_id)
            AS i USING (event_id)
        SETTINGS join_use_nulls = 1""", {"a": appspace_id})
    return int(rows[0]["bad_events"]) + int(rows[0]["orphans"])


def test_kill_9_loses_no_acknowledged_event_and_stores_none_twice(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "data").start()
    try:
        shop = stack.create_appspace()
        load = BatchLoad(stack.base_url, shop["secret_key"]).start()
        wait_for_acknowledged(load, 3000)
        stack.kill()  # mid-stream: requests are in flight
        result: LoadResult = load.stop()
        acknowledged = result.acknowledged_ids()
        stack.start()
        # Clients retry what was not acknowledged, and one also re-sends an acknowledged batch.
        retry(stack, shop["secret_key"], [*result.unacknowledged, result.acknowledged[0]])
        assert stack.stop() == 0
    finally:
        if stack.process is not None:
            stack.kill()
    stored = stored_counts(stack.data_dir, shop["appspace_id"])
    sent = set(acknowledged) | {i for batch in result.unacknowledged for i in event_ids(batch)}
    print(f"kill -9: {len(acknowledged)} events acknowledged before the kill, "
          f"{len(result.unacknowledged)} batches in flight retried; {len(stored)} distinct events stored")
    assert result.unacknowledged, "the kill should have caught requests in flight"
    assert set(acknowledged) <= set(stored)
    assert set(stored) == sent
    assert [i for i, n in stored.items() if n > 1] == []
    assert purchases_without_one_item(stack.data_dir, shop["appspace_id"]) == 0


def table_counts(data_dir: Path, appspace_id: str) -> dict[str, int]:
    # Purchases, not rows, in purchase_channels (the last-touch worker adds a row per purchase it reaches).
    return {table: int(query_stopped(data_dir, f"SELECT {deletions.ROWS.get(table, 'count()')} AS n FROM {table}"
                                               " WHERE appspace_id = {a:String}", {"a": appspace_id})[0]["n"])
            for table in STORED_TABLES}


@pytest.mark.parametrize("failing", [STORED_TABLES, STORED_TABLES[1:]], ids=["every table", "all but events"])
def test_kill_9_while_a_group_is_being_written_then_the_retry_is_stored_once_and_whole(
    tmp_path: Path, failing: list[str]
) -> None:
    """The window the test above only hits by chance: the writer has claimed the batch's dedup keys and its
    INSERT is failing and being repeated when kill -9 comes: every table unwritable, or every table but events
    (whatever the failed attempts kept, the retry writes only what is missing). The client's retry after the
    restart must be stored once and whole: not taken for a duplicate of what was never written, not half-written."""
    stack = StackProcess(tmp_path / "data").start()
    try:
        shop = stack.create_appspace()
        batch = [{**event, "properties": {"campaign": "spring"}} for event in make_batch(10)]
        dirs = table_dirs(stack.data_dir, "carthouse", failing)
        immutable(dirs, True)
        try:
            sender = threading.Thread(target=send_unanswered, args=(stack, shop["secret_key"], batch), daemon=True)
            sender.start()
            deadline = time.monotonic() + 20
            while "retrying in" not in stack.log_path.read_text():
                assert time.monotonic() < deadline, "the writer never tried to store the batch"
                time.sleep(0.02)
            stack.kill()
            sender.join(timeout=30)
        finally:
            immutable(dirs, False)
        stack.start()
        retry(stack, shop["secret_key"], [batch, batch])  # the retry, and a duplicate of it
        assert stack.stop() == 0
    finally:
        if stack.process is not None:
            stack.kill()
    assert stored_counts(stack.data_dir, shop["appspace_id"]) == {event_id: 1 for event_id in event_ids(batch)}
    assert purchases_without_one_item(stack.data_dir, shop["appspace_id"]) == 0
    # 10 events: 5 purchases with one item each and 5 view_cart, each with a campaign property (so a touch) and
    # its own user; 5 carts' activity (the purchases), 5 purchases' channel rows.
    assert table_counts(stack.data_dir, shop["appspace_id"]) == {
        "events": 10, "event_items": 5, "event_properties": 10, "touches": 10, "fraud_events": 0,
        "cart_activity": 5, "actor_hours": 10, "funnel_steps": 10, "purchase_channels": 5, "attribution_dirty": 10,
        "funnel_dirty": 10}


def test_sigterm_under_load_finishes_in_flight_requests_flushes_and_exits_0(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "data").start()
    try:
        shop = stack.create_appspace()
        load = BatchLoad(stack.base_url, shop["secret_key"]).start()
        wait_for_acknowledged(load, 2000)
        started = time.monotonic()
        code = stack.stop()
        shutdown_seconds = time.monotonic() - started
        result = load.stop()
    finally:
        if stack.process is not None:
            stack.kill()
    assert code == 0
    stored = stored_counts(stack.data_dir, shop["appspace_id"])
    acknowledged = result.acknowledged_ids()
    print(f"SIGTERM: exit {code} in {shutdown_seconds:.1f} s; {len(acknowledged)} acknowledged, "
          f"{len(stored)} stored; refused while stopping: {sorted(set(result.refusals))}")
    # Every answered request is stored; requests that arrived after shutdown began were refused (a 503 or a
    # closed connection), never acknowledged and dropped.
    assert set(acknowledged) <= set(stored)
    assert [i for i, n in stored.items() if n > 1] == []
    # A request cut off by the shutdown is all or nothing, never half a batch.
    for batch in result.unacknowledged:
        assert sum(i in stored for i in event_ids(batch)) in (0, len(batch))
    assert set(stored) - set(acknowledged) <= {i for batch in result.unacknowledged for i in event_ids(batch)}
    assert purchases_without_one_item(stack.data_dir, shop["appspace_id"]) == 0


def alive_in_group(group: int) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(" ".join(proc.info["cmdline"] or []))
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def test_kill_9_of_the_main_process_alone_leaves_no_process_serving_and_restart_takes_over(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "data", env={"CARTHOUSE_LOG_LEVEL": "INFO"}).start()
    group = stack.process.pid  # type: ignore[union-attr]
    try:
        shop = stack.create_appspace()
        retry(stack, shop["secret_key"], [make_batch(10)])
        stack.kill_main()
        deadline = time.monotonic() + 20
        # The gateway, FraudService and the ingest workers notice and stop; redis-server (not ours to change)
        # keeps its data and is taken over by the next start.
        while [c for c in alive_in_group(group) if "redis-server" not in c]:
            assert time.monotonic() < deadline, alive_in_group(group)
            time.sleep(0.2)
        stack.start()
        assert "took over the redis-server a killed stack left running" in stack.log_path.read_text()
        retry(stack, shop["secret_key"], [make_batch(10)])
        assert stack.stop() == 0
        assert alive_in_group(group) == []  # the adopted redis-server was shut down with the stack
    finally:
        if stack.process is not None:
            stack.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # whatever a failed run left behind
    assert len(stored_counts(stack.data_dir, shop["appspace_id"])) == 20
