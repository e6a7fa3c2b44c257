"""GDPR deletion against what runs beside it (a deleted user leaves no row behind): events of the user
that arrive while the mutations run, and the last-touch worker caught between reading a user's purchases and
writing their rows back. Driven deterministically on a real store: the race is forced at its worst moment, not
left to timing."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

from carthouse.clock import utc_now
from carthouse.store import Store
from services.analytics import deletions, last_touches

APPSPACE = "as_deletion_races"


def group(user: str) -> list[bytes]:
    """A touch, a cart event and a purchase of ``user``: rows in every table a user's events reach."""
    now = datetime.now(UTC) - timedelta(minutes=5)

    def row(kind: str, **fields: object) -> list[object]:
        return [APPSPACE, now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], str(uuid.uuid4()), kind, user,
                fields.get("transaction_id", ""), fields.get("revenue"), fields.get("properties", {}),
                fields.get("fraud_severity", 0)]

    return [json.dumps(r).encode() for r in (
        row("view_item", properties={"campaign": "spring"}),
        row("add_to_cart"),
        row("purchase", transaction_id=f"{uuid.uuid4()}", revenue=1000),
        row("purchase", transaction_id=f"{uuid.uuid4()}", revenue=5, fraud_severity=2),  # audited only
    )]


COLUMNS = ["appspace_id", "event_time", "event_id", "event_type", "user_id", "transaction_id", "revenue",
           "properties", "fraud_severity"]


def send(store: Store, user: str) -> None:
    store.insert_rows("events_ingest", COLUMNS, group(user))


def status(store: Store, user: str) -> str:
    return store.scalar("SELECT status FROM deletion_requests FINAL WHERE appspace_id = {a:String} "
                        "AND user_id = {u:String}", {"a": APPSPACE, "u": user})


def test_events_arriving_while_the_mutations_run_are_removed_before_done(store: Store, monkeypatch) -> None:
    """z1's events arrive again just after the first mutation (of events) has run: that mutation cannot have
    removed them, yet the request is done only with none of z1's rows left anywhere."""
    send(store, "z1")
    assert deletions.count_rows(store, APPSPACE, "z1") > 0
    deletions.record(store, APPSPACE, "z1", utc_now())
    execute, arrived = store.execute, []

    def execute_then_arrive(sql: str, params: dict | None = None) -> None:
        execute(sql, params)
        if sql.startswith("ALTER TABLE events DELETE") and not arrived:
            send(store, "z1")  # ingest, mid-deletion
            arrived.append(True)

    monkeypatch.setattr(store, "execute", execute_then_arrive)
    assert deletions.DeletionWorker(store, None, threading.Lock()).run_once() == 1
    assert arrived and status(store, "z1") == "done"
    assert deletions.count_rows(store, APPSPACE, "z1") == 0


def test_a_last_touch_round_between_reading_and_writing_cannot_bring_rows_back(store: Store, monkeypatch) -> None:
    """The round has read z2's purchases (before the deletion was requested) and is about to write their rows
    back when the deletion starts: the deletion waits for the round, then removes what it wrote."""
    send(store, "z2")
    rewrites = threading.Lock()
    execute, read, release = store.execute, threading.Event(), threading.Event()

    def execute_slowly(sql: str, params: dict | None = None) -> None:
        if sql is not last_touches.STORE_ROUND:
            return execute(sql, params)
        # The round's INSERT ... SELECT in two steps, held between them.
        rows = store.query(sql.replace("INSERT INTO purchase_channels", "", 1), params)
        read.set()
        assert release.wait(30)
        columns = list(rows[0]) if rows else []
        store.insert_rows("purchase_channels", columns, [json.dumps(list(r.values())).encode() for r in rows])
        return None

    monkeypatch.setattr(store, "execute", execute_slowly)
    worker = last_touches.LastTouchWorker(store, rewrites, margin=timedelta(0))
    round_thread = threading.Thread(target=worker.run_once)
    round_thread.start()
    assert read.wait(30)
    deletions.record(store, APPSPACE, "z2", utc_now())
    deletion = threading.Thread(target=deletions.DeletionWorker(store, None, rewrites).run_once)
    deletion.start()
    deletion.join(timeout=1)
    assert deletion.is_alive()  # waiting for the round: the two never rewrite a user's rows at once
    release.set()
    round_thread.join(timeout=30)
    deletion.join(timeout=60)
    assert status(store, "z2") == "done"
    assert deletions.count_rows(store, APPSPACE, "z2") == 0
