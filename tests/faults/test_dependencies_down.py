"""A dependency gone while the stack runs (real processes): FraudService killed -> events stored unflagged with a
reason; FxService unreachable -> 503 for an amount that cannot be converted, base-currency events still stored;
the store unwritable -> 503, never {"ok": true}, and nothing half-written; a table failing for a moment -> the
group's INSERT is repeated with its deduplication token and stored once, whole."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.redis_server import free_port
from carthouse.errors import STORE_UNAVAILABLE
from carthouse.store import Store
from services.analytics import deletions
from services.ingest.prepare import FX_UNAVAILABLE
from tests.conftest import ShopKeys
from tests.faults.load import make_batch
from tests.faults.unwritable import STORED_TABLES, immutable, table_dirs
from tests.support.stack_process import StackProcess, query_stopped

pytestmark = pytest.mark.timeout(300)
TRACK = "/v1/api/analytics/ecommerce/track"
BATCH = "/v1/api/analytics/ecommerce/batch"


def purchase(order: str, revenue: float = 20.0, currency: str = "USD") -> dict[str, object]:
    return {"event_type": "purchase", "transaction_id": order, "revenue": revenue, "currency": currency,
            "user_id": order, "items": [{"item_id": "sku", "price": revenue, "quantity": 1}]}


def test_fraud_service_killed_events_are_stored_unflagged_with_a_reason(tmp_path: Path) -> None:
    stack = StackProcess(tmp_path / "data", env={"CARTHOUSE_LOG_LEVEL": "INFO"}).start()
    try:
        shop = stack.create_appspace()
        found = re.search(r"FraudService runs in process (\d+)", stack.log_path.read_text())
        assert found, "the stack logs where FraudService runs"
        subprocess.run(["kill", "-9", found.group(1)], check=True)
        with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": shop["secret_key"]}) as http:
            response = http.post(TRACK, json=purchase("unchecked", revenue=10_000_000))
            assert (response.status_code, response.json()) == (200, {"ok": True})
        assert stack.stop() == 0
    finally:
        if stack.process is not None:
            stack.kill()
    rows = query_stopped(stack.data_dir, "SELECT transaction_id, fraud_severity, fraud_reasons FROM events"
                                         " WHERE appspace_id = {a:String}", {"a": shop["appspace_id"]})
    assert rows == [{"transaction_id": "unchecked", "fraud_severity": 0,
                     "fraud_reasons": ["fraud_unchecked_service_unavailable"]}]


def test_fx_service_unreachable_is_a_503_for_foreign_amounts_only(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    stack = StackProcess(tmp_path / "data", env={"CARTHOUSE_FX_TARGET": closed}).start()
    try:
        shop = stack.create_appspace()
        with httpx.Client(base_url=stack.base_url, headers={"X-API-Key": shop["secret_key"]}) as http:
            response = http.post(TRACK, json=purchase("in-euros", currency="EUR"))
            assert (response.status_code, response.json()) == (503, {"error": FX_UNAVAILABLE})
            response = http.post(TRACK, json=purchase("in-dollars"))
            assert (response.status_code, response.json()) == (200, {"ok": True})
        assert stack.stop() == 0
    finally:
        if stack.process is not None:
            stack.kill()
    rows = query_stopped(stack.data_dir, "SELECT transaction_id FROM events WHERE appspace_id = {a:String}",
                         {"a": shop["appspace_id"]})
    assert rows == [{"transaction_id": "in-dollars"}]


# ---------------------------------------------------------------- the store



@pytest.fixture(scope="module")
def shop(new_appspace) -> ShopKeys:
    return new_appspace("growth")


def _counts(store: Store, shop: ShopKeys) -> dict[str, int]:
    # Purchases, not rows, in purchase_channels (the background worker adds a row per purchase it reaches).
    return {table: store.scalar(f"SELECT {deletions.ROWS.get(table, 'count()')} FROM {table} "
                                "WHERE appspace_id = {a:String}", {"a": shop.appspace_id}) for table in STORED_TABLES}


def test_store_unwritable_is_a_503_and_nothing_is_written(http, shop, store: Store, caplog) -> None:
    key = {"X-API-Key": shop.secret_key}
    before = _counts(store, shop)
    batch = [{**e, "properties": {"campaign": "spring"}} for e in make_batch(6)]
    dirs = table_dirs(store.data_dir, store.database, STORED_TABLES)  # type: ignore[attr-defined]
    immutable(dirs, True)
    try:
        response = http.post(BATCH, json={"events": batch}, headers=key)
        assert (response.status_code, response.json()) == (503, {"error": STORE_UNAVAILABLE})
        response = http.post(TRACK, json=purchase("while-down"), headers=key)
        assert (response.status_code, response.json()) == (503, {"error": STORE_UNAVAILABLE})
    finally:
        immutable(dirs, False)
    assert _counts(store, shop) == before
    assert any("answering 503" in r.message for r in caplog.records)
    # The client's retry, once the store is back, is stored once and whole (dedup keys were released).
    response = http.post(BATCH, json={"events": batch}, headers=key)
    assert (response.status_code, response.json()["accepted"]) == (200, 6)
    after = _counts(store, shop)
    # 6 events, 3 purchases with one item each, 6 campaign properties, 6 touches, 6 users' hour of activity,
    # 6 funnel steps (purchases and view_cart), 3 purchases' channel rows, 6 users marked for their last touches
    # and 6 for their funnel reach.
    assert {t: after[t] - before[t] for t in after} == {"events": 6, "event_items": 3, "event_properties": 6,
                                                        "touches": 6, "fraud_events": 0, "cart_activity": 3,
                                                        "actor_hours": 6, "funnel_steps": 6, "purchase_channels": 3,
                                                        "attribution_dirty": 6, "funnel_dirty": 6}


def writable_after_a_retry(dirs: list, caplog, deadline_seconds: float = 30) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not any("retrying in" in r.message for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.01)
    immutable(dirs, False)


@pytest.mark.parametrize("failing", STORED_TABLES)
def test_a_table_failing_for_a_moment_is_healed_by_the_repeated_insert(http, shop, store: Store, failing: str,
                                                                      caplog) -> None:
    before = _counts(store, shop)
    flagged = {"event_type": "purchase", "transaction_id": f"big-{failing}", "revenue": 10_000_000,
               "user_id": f"big-{failing}"}  # over the revenue ceiling: stored, marked, audited
    blocked = {"event_type": "purchase", "transaction_id": f"bot-{failing}", "revenue": 5, "user_id": f"bot-{failing}",
               "context": {"user_agent": "python-requests/2.31.0"}}  # audited only
    # Without client event ids: ingest makes each event's id, which must be the same in every table.
    batch = [{**{k: v for k, v in e.items() if k != "event_id"}, "properties": {"campaign": f"autumn-{failing}"}}
             for e in [*make_batch(4), flagged, blocked]]
    dirs = table_dirs(store.data_dir, store.database, [failing])  # type: ignore[attr-defined]
    immutable(dirs, True)
    # Failing for the group's first INSERT, whenever it comes (after preparation, the fraud check's gathering and
    # the commit interval), and back as soon as the writer says it will try again (0.2 s later; its last attempt
    # comes 1.2 s after its first).
    threading.Thread(target=writable_after_a_retry, args=(dirs, caplog), daemon=True).start()
    response = http.post(BATCH, json={"events": batch}, headers={"X-API-Key": shop.secret_key})
    assert (response.status_code, response.json()["accepted"]) == (200, 6)
    after = _counts(store, shop)
    # 4 + the flagged one stored (3 purchases, 2 of them with an item), the blocked one in the audit only.
    assert {t: after[t] - before[t] for t in after} == {"events": 5, "event_items": 2, "event_properties": 5,
                                                        "touches": 5, "fraud_events": 2, "cart_activity": 3,
                                                        "actor_hours": 5, "funnel_steps": 5, "purchase_channels": 3,
                                                        "attribution_dirty": 5, "funnel_dirty": 5}
    assert any("retrying in 0.2 s" in r.message for r in caplog.records)
    # The same events in every table that keeps their ids, and every touch's channel named in touch_channels.
    campaign = {"a": shop.appspace_id, "c": f"autumn-{failing}"}

    def ids(table: str, where: str) -> set[str]:
        return {row["id"] for row in store.query(f"SELECT toString(event_id) AS id FROM {table} "
                                                 f"WHERE appspace_id = {{a:String}} AND {where}", campaign)}

    stored = ids("events", "properties['campaign'] = {c:String}")
    bought = ids("events", "properties['campaign'] = {c:String} AND event_type = 'purchase'")
    assert len(stored) == 5 and len(bought) == 3
    assert ids("event_properties", "key = 'campaign' AND value = {c:String}") == stored
    assert ids("touches", "campaign = {c:String}") == stored
    assert ids("purchase_channels", "event_id IN (SELECT event_id FROM events WHERE properties['campaign'] = "
                                    "{c:String})") == bought
    assert ids("event_items", "event_id IN (SELECT event_id FROM touches WHERE campaign = {c:String})") == bought - {
        next(iter(ids("events", "transaction_id LIKE 'big-%' AND properties['campaign'] = {c:String}")))}
    assert store.query("SELECT DISTINCT campaign, source, medium FROM touch_channels WHERE appspace_id = {a:String} "
                       "AND campaign = {c:String}", campaign) == [{"campaign": f"autumn-{failing}", "source": "",
                                                                  "medium": ""}]


