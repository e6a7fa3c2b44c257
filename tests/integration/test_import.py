"""`carthouse import` against the real stack: an NDJSON file of a year of history stored through the ingest
pipeline (refusals to FILE.rejected.ndjson with the server's errors), an interrupted run resumed without a row
stored twice, a file imported again with its progress lost stored once, and a GA4 export mapped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import cli, importer
from app.importer import ImportState, rejected_path, run_import, state_path
from carthouse.store.base import Store
from tests.conftest import ShopKeys

DAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def history(rows: int) -> list[dict]:
    """``rows`` events a day apart going back from yesterday: view_item, add_to_cart, purchase of 10.00 in turn."""
    events = []
    for n in range(rows):
        moment = (DAY - timedelta(days=1 + n % 300)).strftime("%Y-%m-%dT%H:%M:%SZ")
        kind = ("view_item", "add_to_cart", "purchase")[n % 3]
        event = {"event_type": kind, "timestamp": moment, "user_id": f"imp-{n % 40}",
                 "items": [{"item_id": "sku_i", "price": 10}]}
        if kind == "purchase":
            event |= {"transaction_id": f"imp-o{n}", "revenue": 10}
        events.append(event)
    return events


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def stored(store: Store, shop: ShopKeys) -> dict[str, int]:
    rows = store.query("SELECT count() AS n, uniqExact(client_event_id) AS ids, countIf(event_type = 'purchase') AS "
                       "orders FROM events WHERE appspace_id = {a:String}", {"a": shop.appspace_id})
    return rows[0]


@pytest.fixture
def operator(stack):
    def metadata(shop: ShopKeys) -> list[tuple[str, str]]:
        return [("x-admin-token", stack.admin_token), ("x-appspace-id", shop.appspace_id)]
    return metadata


def test_a_years_history_is_stored_and_refused_rows_are_kept_with_the_servers_errors(
        tmp_path: Path, channel, store: Store, new_appspace, operator) -> None:
    shop = new_appspace("enterprise")
    lines = [json.dumps(e) for e in history(250)]
    lines[10] = '{"event_type": "purchase", "revenue": 5}'  # no transaction_id
    lines[20] = "not json"
    lines[30] = ""
    source = write(tmp_path / "history.ndjson", lines)
    state = run_import(source, channel, operator(shop), shop.appspace_id)
    assert (state.line, state.accepted, state.rejected, state.skipped) == (250, 247, 2, 1)
    refused = [json.loads(line) for line in rejected_path(source).read_text().splitlines()]
    assert [(r["line"], r["error"]) for r in refused] == [
        (11, "transaction_id is required for purchase events"), (21, "not a JSON object")]
    # 250 rows, less the three above; the purchases among them (every third row, less row 10's replacement).
    expected_orders = sum(1 for n in range(250) if n % 3 == 2 and n not in (20, 30))
    assert stored(store, shop) == {"n": 247, "ids": 247, "orders": expected_orders}
    # Done: running again finds nothing left to send.
    again = run_import(source, channel, operator(shop), shop.appspace_id)
    assert (again.line, again.accepted) == (250, 247)
    assert stored(store, shop)["n"] == 247


def test_an_interrupted_import_goes_on_where_it_stopped_and_stores_nothing_twice(
        tmp_path: Path, channel, store: Store, new_appspace, operator, monkeypatch) -> None:
    shop = new_appspace("enterprise")
    monkeypatch.setattr(importer, "CHUNK", 1600)  # five chunks
    source = write(tmp_path / "interrupted.ndjson", [json.dumps(e) for e in history(8000)])
    def stop_after_the_first_chunk(state: ImportState) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_import(source, channel, operator(shop), shop.appspace_id, progress=stop_after_the_first_chunk)
    saved = ImportState.load(state_path(source), shop.appspace_id)
    # The chunks after the first were in flight when the first one was saved: answered before run_import gave
    # up, stored, but not recorded, so the next run sends them again.
    assert saved.line == 1600 and stored(store, shop)["n"] == 1600 * importer.CHUNKS_IN_FLIGHT
    finished = run_import(source, channel, operator(shop), shop.appspace_id)
    assert finished.line == 8000
    assert stored(store, shop) == {"n": 8000, "ids": 8000, "orders": 2666}
    # Progress lost: every row is sent again, and each is recognised by its derived event id.
    state_path(source).unlink()
    run_import(source, channel, operator(shop), shop.appspace_id)
    assert stored(store, shop) == {"n": 8000, "ids": 8000, "orders": 2666}


def test_a_ga4_export_through_the_command(tmp_path: Path, stack, store: Store, new_appspace, monkeypatch,
                                          capsys) -> None:
    shop = new_appspace("enterprise")
    micros = int((DAY - timedelta(days=3)).timestamp() * 1_000_000)
    purchase = {
        "event_name": "purchase", "event_timestamp": str(micros), "user_id": "ga-1", "user_pseudo_id": "123.456",
        "event_params": [{"key": "currency", "value": {"string_value": "EUR"}},
                         {"key": "coupon", "value": {"string_value": "WELCOME"}}],
        "ecommerce": {"transaction_id": "ga-o1", "purchase_revenue": 59.9, "tax_value": 9.5, "shipping_value": 4.9},
        "items": [{"item_id": "sku_g", "item_name": "Mug", "price": 27.5, "quantity": 2, "coupon": "(not set)"}],
        "collected_traffic_source": {"manual_campaign_name": "winter", "manual_source": "newsletter",
                                     "manual_medium": "email"},
        "device": {"category": "mobile", "operating_system": "iOS"}, "geo": {"country": "Germany"},
    }
    page_view = {"event_name": "page_view", "event_timestamp": str(micros), "user_pseudo_id": "123.456"}
    source = write(tmp_path / "ga4.ndjson", [json.dumps(page_view), json.dumps(purchase)])
    monkeypatch.setenv("CARTHOUSE_ADMIN_TOKEN", stack.admin_token)
    assert cli.main(["--grpc", stack.target, "import", str(source), "--appspace", shop.appspace_id,
                     "--format", "ga4", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {k: summary[k] for k in ("rows", "stored_or_duplicate", "refused", "skipped")} == {
        "rows": 2, "stored_or_duplicate": 1, "refused": 0, "skipped": 1}
    (row,) = store.query("SELECT event_type, user_id, anonymous_id, transaction_id, currency, revenue_original, "
                         "coupon_code, device_type, platform, properties FROM events WHERE appspace_id = {a:String}",
                         {"a": shop.appspace_id})
    assert (row["event_type"], row["user_id"], row["anonymous_id"], row["transaction_id"], row["currency"],
            float(row["revenue_original"]), row["coupon_code"], row["device_type"], row["platform"]) == (
        "purchase", "ga-1", "123.456", "ga-o1", "EUR", 59.9, "WELCOME", "mobile", "ios")
    assert row["properties"] == {"campaign": "winter", "source": "newsletter", "medium": "email"}
