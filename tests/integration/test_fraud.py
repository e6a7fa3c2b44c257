"""Fraud rules end to end: events through the REST gateway and gRPC ingest into chdb, FraudService in its
child process with velocity windows in a real redis-server, caught events in the fraud audit, settings
changed with AdminService. FraudService.CheckEvents is also called directly for the rules' finer cases."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from carthouse.store import Store
from carthouse.v1 import admin_pb2, fraud_pb2, fraud_pb2_grpc, ingest_pb2_grpc
from tests.builders import ADD_TO_CART, batch, event, key, track
from tests.builders import body as purchase
from tests.conftest import AppspaceFactory, ShopKeys

TRACK, BATCH = "/v1/api/analytics/ecommerce/track", "/v1/api/analytics/ecommerce/batch"
FRAUD_EVENTS = "/v1/api/analytics/ecommerce/fraud-events"
BOTS = {
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "HeadlessChrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/116.0 "
                      "Safari/537.36",
    "python-requests": "python-requests/2.31.0",
}
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148"



@pytest.fixture(scope="module")
def fraud(stack) -> Iterator[fraud_pb2_grpc.FraudServiceStub]:
    # FraudService runs in a child process of the embedded stack (app/fraud_process.py).
    with grpc.insecure_channel(stack.fraud_target) as channel:
        yield fraud_pb2_grpc.FraudServiceStub(channel)


def headers(api_key: str, user_agent: str = IPHONE) -> dict[str, str]:
    return {"X-API-Key": api_key, "User-Agent": user_agent}



def stored(store: Store, shop: ShopKeys, where: str = "1") -> list[dict]:
    return store.query(
        f"SELECT transaction_id, fraud_severity, fraud_reasons FROM events WHERE appspace_id = {{a:String}} "
        f"AND {where} ORDER BY event_time, transaction_id", {"a": shop.appspace_id})


def audited(store: Store, shop: ShopKeys) -> list[dict]:
    return store.query(
        "SELECT transaction_id, severity, reasons, user_agent FROM fraud_events FINAL WHERE appspace_id = {a:String} "
        "ORDER BY event_time, transaction_id", {"a": shop.appspace_id})


def set_fraud(factory: AppspaceFactory, shop: ShopKeys, **settings: str) -> admin_pb2.Appspace:
    return factory.stub.UpdateAppspace(
        admin_pb2.UpdateAppspaceRequest(appspace_id=shop.appspace_id, fraud_settings=settings),
        metadata=factory.metadata,
    ).appspace


# ---------------------------------------------------------------- through ingest


def test_bots_on_publishable_keys_are_blocked_and_indistinguishable(http, store, new_appspace) -> None:
    shop = new_appspace()
    clean = http.post(TRACK, json=purchase(transaction_id="human"), headers=headers(shop.publishable_key))
    for name, user_agent in BOTS.items():
        response = http.post(TRACK, json=purchase(transaction_id=name), headers=headers(shop.publishable_key,
                                                                                          user_agent))
        assert (response.status_code, response.content, response.headers["content-type"]) == \
               (clean.status_code, clean.content, clean.headers["content-type"]), name
        assert response.content == b'{"ok":true}'
    both = http.post(BATCH, json={"events": [purchase(transaction_id="b1"), ADD_TO_CART]},
                     headers=headers(shop.publishable_key, BOTS["Googlebot"]))
    assert both.json() == {"ok": True, "accepted": 2, "errors": []}
    assert [r["transaction_id"] for r in stored(store, shop)] == ["human"]
    # The browser's user agent reached enrichment through the gateway.
    assert store.query("SELECT device_type, platform FROM events WHERE appspace_id = {a:String}",
                       {"a": shop.appspace_id}) == [{"device_type": "mobile", "platform": "ios"}]
    caught = audited(store, shop)
    assert sorted(r["transaction_id"] for r in caught) == ["", "Googlebot", "HeadlessChrome", "b1", "python-requests"]
    assert {(r["severity"], tuple(r["reasons"])) for r in caught} == {(2, ("bot_user_agent",))}


def test_the_same_bot_event_with_a_secret_key_is_stored(http, store, new_appspace) -> None:
    shop = new_appspace()
    for name, user_agent in BOTS.items():
        assert http.post(TRACK, json=purchase(transaction_id=name),
                         headers=headers(shop.secret_key, user_agent)).json() == {"ok": True}
    assert [(r["transaction_id"], r["fraud_severity"]) for r in stored(store, shop)] == \
           sorted([(name, 0) for name in BOTS])
    # ...unless the server passes its client's user agent on.
    passed_on = purchase(transaction_id="passed-on", context={"user_agent": BOTS["Googlebot"]})
    assert http.post(TRACK, json=passed_on, headers=headers(shop.secret_key)).json() == {"ok": True}
    assert stored(store, shop, "transaction_id = 'passed-on'") == []


def test_a_ten_million_dollar_order_is_flagged_and_stored_with_its_reasons(http, store, new_appspace) -> None:
    shop = new_appspace()
    assert http.post(TRACK, json=purchase(transaction_id="big", revenue=10_000_000),
                     headers=headers(shop.publishable_key)).json() == {"ok": True}
    # 10,000,000 > the 100,000 ceiling (flag, not above 100 x = block) and > 10 x (2 x 24.99 + 4.99 + 3.75).
    assert stored(store, shop) == [{"transaction_id": "big", "fraud_severity": 1,
                                    "fraud_reasons": ["revenue_above_ceiling", "revenue_far_above_items"]}]
    assert [(r["transaction_id"], r["severity"]) for r in audited(store, shop)] == [("big", 1)]


def test_the_6th_purchase_in_a_minute_is_flagged_and_the_21st_blocked(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for i in range(21):
        at = (start + timedelta(seconds=2 * i)).isoformat()
        assert ingest.Track(track(transaction_id=f"o{i:02}", timestamp=at), metadata=key(shop.secret_key)).ok
    rows = stored(store, shop)
    assert [r["fraud_severity"] for r in rows] == [0] * 5 + [1] * 15
    assert rows[5]["fraud_reasons"] == ["user_purchase_velocity"]
    assert [(r["transaction_id"], r["severity"]) for r in audited(store, shop)][-1] == ("o20", 2)
    # A re-sent order is not counted again: o00 is a duplicate, stored once, nothing new blocked.
    assert ingest.Track(track(transaction_id="o00", timestamp=start.isoformat()), metadata=key(shop.secret_key)).ok
    assert len(stored(store, shop)) == 20


def test_disallowed_currency_is_blocked_within_seconds_of_the_setting(ingest, store, new_appspace) -> None:
    shop = new_appspace()
    appspace = set_fraud(new_appspace, shop, allowed_currencies='["USD", "EUR"]')
    assert json.loads(appspace.fraud_settings_json)["allowed_currencies"] == ["USD", "EUR"]
    changed = time.monotonic()
    n = 0
    while not any(r["transaction_id"].startswith("gbp") for r in audited(store, shop)):
        assert time.monotonic() - changed < 5, "the setting did not take effect within 5 s"
        ingest.Track(track(transaction_id=f"gbp{n}", currency="GBP", items=None), metadata=key(shop.secret_key))
        n += 1
        time.sleep(0.2)
    assert ingest.Track(track(transaction_id="eur", currency="EUR", items=None), metadata=key(shop.secret_key)).ok
    assert ingest.Track(track(transaction_id="gbp-last", currency="GBP", items=None),
                        metadata=key(shop.secret_key)).ok
    assert [r["transaction_id"] for r in stored(store, shop, "currency != 'GBP'")] == ["eur"]
    assert audited(store, shop)[-1]["transaction_id"] == "gbp-last"
    assert audited(store, shop)[-1]["reasons"] == ["currency_not_allowed"]
    # An empty value restores the default (every currency allowed).
    assert json.loads(set_fraud(new_appspace, shop, allowed_currencies="").fraud_settings_json)[
        "allowed_currencies"] == []


def test_bad_fraud_settings_are_refused(new_appspace) -> None:
    shop = new_appspace()
    for setting, message in [
        ({"revenue_ceiling": "-5"}, "fraud setting revenue_ceiling must be a positive number"),
        ({"user_purchases_per_minute": "[20, 5]"},
         "fraud setting user_purchases_per_minute must be [soft, hard], two positive whole numbers with soft <= hard"),
        ({"allowed_currencies": "USD,XYZ"},
         "fraud setting allowed_currencies must be a list of ISO 4217 currency codes"),
        ({"colour": "red"}, "unknown fraud setting 'colour'"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            set_fraud(new_appspace, shop, **setting)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith(message)


def test_fraud_events_endpoint_lists_flagged_and_blocked_newest_first(http, store, new_appspace) -> None:
    shop = new_appspace()
    now = datetime.now(UTC).replace(microsecond=0)
    for i, (transaction, revenue, user_agent) in enumerate([
        ("flag-1", 200_000, IPHONE), ("bot-1", 10, BOTS["Googlebot"]), ("ok-1", 49.99, IPHONE),
        ("flag-2", 300_000.5, IPHONE),
    ]):
        body = purchase(transaction_id=transaction, revenue=revenue, items=[],
                        timestamp=(now - timedelta(minutes=10 - i)).isoformat())
        http.post(TRACK, json=body, headers=headers(shop.publishable_key, user_agent))
    secret = {"X-API-Key": shop.secret_key}
    assert http.get(FRAUD_EVENTS, headers={"X-API-Key": shop.publishable_key}).json() == {
        "error": "Secret key required"}
    page = http.get(FRAUD_EVENTS, headers=secret).json()
    assert [(e["transaction_id"], e["status"], e["reasons"]) for e in page["events"]] == [
        ("flag-2", "flagged", ["revenue_above_ceiling"]),
        ("bot-1", "blocked", ["bot_user_agent"]),
        ("flag-1", "flagged", ["revenue_above_ceiling"]),
    ]
    assert page["events"][0]["revenue"] == 300000.5 and page["events"][0]["currency"] == "USD"
    assert page["events"][1]["user_agent"] == BOTS["Googlebot"]
    assert page["days"] == 30 and page["next_page_token"] == ""
    first = http.get(FRAUD_EVENTS, params={"limit": 2}, headers=secret).json()
    assert [e["transaction_id"] for e in first["events"]] == ["flag-2", "bot-1"]
    rest = http.get(FRAUD_EVENTS, params={"limit": 2, "page_token": first["next_page_token"]}, headers=secret).json()
    assert [e["transaction_id"] for e in rest["events"]] == ["flag-1"] and rest["next_page_token"] == ""
    blocked = http.get(FRAUD_EVENTS, params={"status": "blocked"}, headers=secret).json()
    assert [e["transaction_id"] for e in blocked["events"]] == ["bot-1"]
    bad = http.get(FRAUD_EVENTS, params={"status": "maybe"}, headers=secret)
    assert (bad.status_code, bad.json()) == (400, {"error": "status must be flagged, blocked or all"})
    # Another appspace sees none of it.
    other = new_appspace()
    assert http.get(FRAUD_EVENTS, headers={"X-API-Key": other.secret_key}).json()["events"] == []


def test_with_redis_stopped_events_are_still_stored(outage, store) -> None:
    stack_channel, shop, redis = outage
    ingest = ingest_pb2_grpc.IngestServiceStub(stack_channel)
    redis.stop()
    try:
        assert ingest.Track(track(transaction_id="no-redis"), metadata=key(shop.secret_key)).ok
        assert ingest.Batch(batch(event(ADD_TO_CART), event(transaction_id="no-redis-2")),
                            metadata=key(shop.secret_key)).accepted == 2
    finally:
        redis.start()
    rows = stored(store, shop)
    assert [(r["transaction_id"], r["fraud_severity"], r["fraud_reasons"]) for r in rows] == [
        ("no-redis", 0, ["velocity_unchecked_redis_unavailable"]),
        ("", 0, []),
        ("no-redis-2", 0, ["velocity_unchecked_redis_unavailable"]),
    ]


def test_with_fraud_service_unreachable_events_are_stored_unflagged_with_a_reason(unchecked, store) -> None:
    stack_channel, shop = unchecked
    ingest = ingest_pb2_grpc.IngestServiceStub(stack_channel)
    assert ingest.Track(track(transaction_id="unchecked", revenue=10_000_000), metadata=key(shop.secret_key)).ok
    assert stored(store, shop) == [{"transaction_id": "unchecked", "fraud_severity": 0,
                                    "fraud_reasons": ["fraud_unchecked_service_unavailable"]}]


@pytest.fixture
def outage(store, session_dir, tmp_path):
    from app.redis_server import RedisServer
    from app.stack import running_stack
    from carthouse.config import Settings

    redis = RedisServer(tmp_path / "redis").start()
    settings = Settings(data_dir=session_dir / "fraud-outage", database=store.database, admin_token="t")
    try:
        with running_stack(settings, redis.url, store=store, port=0) as running, \
                grpc.insecure_channel(running.target) as channel:
            yield channel, AppspaceFactory(channel, running.admin_token)(), redis
    finally:
        redis.stop()


@pytest.fixture
def unchecked(store, session_dir, redis_server):
    from app.redis_server import free_port
    from app.stack import running_stack
    from carthouse.config import Settings

    settings = Settings(data_dir=session_dir / "no-fraud", database=store.database, admin_token="t",
                        fraud_target=f"127.0.0.1:{free_port()}")
    with running_stack(settings, redis_server.url, store=store, port=0,
                       services=("ingest", "fx", "admin")) as running, \
            grpc.insecure_channel(running.target) as channel:
        yield channel, AppspaceFactory(channel, running.admin_token)()


# ---------------------------------------------------------------- FraudService.CheckEvents directly

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def checked(event_type: str = "purchase", *, transaction: str = "", user: str = "u1", at: datetime = T0,
            velocity_ip: str = "", revenue_minor: int = -1, expected_minor: int = -1, bot: bool = False,
            user_agent_from_sender: bool = False) -> dict:
    """One event's entries of the CheckEventsRequest columns."""
    return {"event_types": event_type, "event_times_ms": int(at.timestamp() * 1000), "actors": user,
            "transaction_ids": transaction or uuid.uuid4().hex, "currencies": "USD", "revenues_minor": revenue_minor,
            "expected_minor": expected_minor, "velocity_ips": velocity_ip, "bots": bot,
            "user_agents_from_sender": user_agent_from_sender}


def check(fraud, *events: dict, secret: bool = False, settings: dict | None = None,
          appspace: str = "") -> list[tuple[int, list[str]]]:
    batch = fraud_pb2.EventBatch(appspace_id=appspace or f"as_{uuid.uuid4().hex[:8]}", secret_key=secret,
                                 settings_json=json.dumps(settings or {}), base_digits=2,
                                 **{column: [e[column] for e in events] for column in events[0]})
    (answer,) = fraud.CheckEvents(fraud_pb2.CheckEventsRequest(batches=[batch])).batches
    verdicts: list[tuple[int, list[str]]] = [(0, [])] * len(events)
    for verdict in answer.verdicts:  # only the events something was found about
        verdicts[verdict.index] = (verdict.severity, list(verdict.reasons))
    return verdicts


def test_columns_of_different_lengths_are_refused(fraud) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        fraud.CheckEvents(fraud_pb2.CheckEventsRequest(
            batches=[fraud_pb2.EventBatch(event_types=["purchase"], actors=[])]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_revenue_thresholds(fraud) -> None:
    # Ceiling 100,000.00 USD = 10,000,000 cents: at it clean, a cent above flagged; above 100 x blocked.
    assert check(fraud, checked(revenue_minor=10_000_000)) == [(0, [])]
    assert check(fraud, checked(revenue_minor=10_000_001)) == [(1, ["revenue_above_ceiling"])]
    assert check(fraud, checked(revenue_minor=1_000_000_001)) == [(2, ["absurd_revenue"])]
    # Items + shipping + tax 58.72: 587.20 is 10 x, allowed; 587.21 flagged. Refunds are not judged.
    assert check(fraud, checked(revenue_minor=58720, expected_minor=5872)) == [(0, [])]
    assert check(fraud, checked(revenue_minor=58721, expected_minor=5872)) == [(1, ["revenue_far_above_items"])]
    assert check(fraud, checked("refund", revenue_minor=10**12)) == [(0, [])]
    assert check(fraud, checked(revenue_minor=4001), settings={"revenue_ceiling": 40}) == [
        (1, ["revenue_above_ceiling"])]


def test_backfills_are_judged_by_event_time(fraud) -> None:
    appspace = f"as_{uuid.uuid4().hex[:8]}"
    old = T0 - timedelta(days=30)
    one_batch = [checked(at=old + timedelta(minutes=i)) for i in range(10)]
    assert check(fraud, *one_batch, appspace=appspace, secret=True) == [(0, [])] * 10


def test_velocity_counts_a_whole_batch_in_order(fraud) -> None:
    appspace = f"as_{uuid.uuid4().hex[:8]}"
    orders = [checked(at=T0 + timedelta(seconds=i)) for i in range(7)]
    assert [s for s, _ in check(fraud, *orders, appspace=appspace)] == [0, 0, 0, 0, 0, 1, 1]


def test_ip_velocity_uses_the_address_ingest_chose(fraud) -> None:
    appspace = f"as_{uuid.uuid4().hex[:8]}"
    settings = {"ip_purchases_per_hour": [2, 5]}
    verdicts = [check(fraud, checked(user=f"v{i}", velocity_ip="198.51.100.7"), appspace=appspace, secret=True,
                      settings=settings)[0][0] for i in range(7)]
    assert verdicts == [0, 0, 1, 1, 1, 2, 2]
    assert check(fraud, checked(user="w"), appspace=appspace, secret=True, settings=settings) == [(0, [])]


def test_batches_of_one_call_are_judged_apart_and_share_the_velocity_windows(fraud) -> None:
    appspace = f"as_{uuid.uuid4().hex[:8]}"
    first = fraud_pb2.EventBatch(appspace_id=appspace, settings_json="{}", base_digits=2,
                                 **{c: [e[c] for e in [checked(at=T0 + timedelta(seconds=i)) for i in range(4)]]
                                    for c in checked()})
    second = fraud_pb2.EventBatch(appspace_id=appspace, settings_json='{"revenue_ceiling": 1}', base_digits=2,
                                  **{c: [e[c] for e in [checked(at=T0 + timedelta(seconds=9), revenue_minor=500),
                                                        checked(at=T0 + timedelta(seconds=9), user="u2")]]
                                     for c in checked()})
    answers = fraud.CheckEvents(fraud_pb2.CheckEventsRequest(batches=[first, second])).batches
    assert [list(a.verdicts) for a in answers][0] == []
    # u1's 5th purchase in the minute is within the limit; its 5 USD order is above this appspace's 1 USD ceiling.
    assert [(v.index, v.severity, list(v.reasons)) for v in answers[1].verdicts] == [
        (0, 1, ["revenue_above_ceiling"])]


def test_unknown_bots_rule_respects_block_bots_false(fraud) -> None:
    assert check(fraud, checked("view_cart", bot=True)) == [(2, ["bot_user_agent"])]
    assert check(fraud, checked("view_cart", bot=True), settings={"block_bots": False}) == [(0, [])]
    assert check(fraud, checked("view_cart", bot=True), secret=True) == [(0, [])]
    assert check(fraud, checked("view_cart", bot=True, user_agent_from_sender=True), secret=True) == [
        (2, ["bot_user_agent"])]


def test_a_blocked_event_sent_again_is_listed_once(http, new_appspace) -> None:
    """A bot re-sends its order and its add_to_cart (same event_id), without timestamps: each request has its
    own time, and blocked events are not deduplicated, yet each is one caught event."""
    shop = new_appspace()
    again = [purchase(transaction_id="bot-again", items=[]), {**ADD_TO_CART, "event_id": str(uuid.uuid4())}]
    for _ in range(3):
        response = http.post(BATCH, json={"events": again}, headers=headers(shop.publishable_key, BOTS["Googlebot"]))
        assert response.json() == {"ok": True, "accepted": 2, "errors": []}
        time.sleep(0.01)
    caught = http.get(FRAUD_EVENTS, headers={"X-API-Key": shop.secret_key}).json()["events"]
    assert sorted((e["event_type"], e["transaction_id"], e["status"]) for e in caught) == [
        ("add_to_cart", "", "blocked"), ("purchase", "bot-again", "blocked")]
