"""FraudService.Check over gRPC with a real redis-server (ingest does not call it yet: issue 5 is open)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from carthouse.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc
from services.ingest.enrichment import classify_user_agent
from tests.builders import event

BOTS = {
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "HeadlessChrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/116.0 "
                      "Safari/537.36",
    "python-requests": "python-requests/2.31.0",
}
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fraud(channel) -> fraud_pb2_grpc.FraudServiceStub:
    return fraud_pb2_grpc.FraudServiceStub(channel)


def checked(ev: events_pb2.EcommerceEvent, *, user_agent: str = "", revenue_minor: int = 4999,
            at: datetime = T0, ip: str = "81.2.69.160") -> fraud_pb2.CheckedEvent:
    return fraud_pb2.CheckedEvent(event=ev, ip=ip, user_agent=user_agent, event_time=at.isoformat(),
                                  revenue_minor=revenue_minor, device_type=classify_user_agent(user_agent)[0])


def check(fraud, *events: fraud_pb2.CheckedEvent, secret: bool = False, settings: dict | None = None,
          appspace: str = "") -> list[tuple[int, list[str]]]:
    request = fraud_pb2.CheckRequest(appspace_id=appspace or f"as_{uuid.uuid4().hex[:8]}", secret_key=secret,
                                     events=events, settings_json=json.dumps(settings or {}), base_digits=2)
    return [(v.severity, list(v.reasons)) for v in fraud.Check(request).verdicts]


def view(**changes) -> events_pb2.EcommerceEvent:
    return event({"event_type": "view_cart"}, **changes)


def test_bots_on_publishable_keys_are_blocked_and_trusted_servers_are_not(fraud) -> None:
    for name, user_agent in BOTS.items():
        assert check(fraud, checked(view(), user_agent=user_agent)) == [(2, ["bot_user_agent"])], name
        assert check(fraud, checked(view(), user_agent=user_agent), secret=True) == [(0, [])], name
        passed_on = view(context={"user_agent": user_agent})
        assert check(fraud, checked(passed_on, user_agent=user_agent), secret=True) == [(2, ["bot_user_agent"])]
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1"
    assert check(fraud, checked(view(), user_agent=iphone)) == [(0, [])]


def test_impossible_revenue(fraud) -> None:
    huge = event(revenue=10_000_000, items=None, shipping=None, tax=None, discount=None)
    assert check(fraud, checked(huge, revenue_minor=1_000_000_000)) == [(1, ["revenue_above_ceiling"])]
    absurd = event(revenue=20_000_000, items=None, shipping=None, tax=None, discount=None)
    assert check(fraud, checked(absurd, revenue_minor=2_000_000_000)) == [(2, ["absurd_revenue"])]
    # Spec purchase: items 2 x 24.99 + 4.99 shipping + 3.75 tax = 58.72; 49.99 revenue is plausible,
    # 999 is more than 10 x 58.72 = 587.20.
    assert check(fraud, checked(event())) == [(0, [])]
    assert check(fraud, checked(event(revenue=999), revenue_minor=99900)) == [(1, ["revenue_far_above_items"])]
    settings = {"revenue_ceiling": 40}
    assert check(fraud, checked(event()), settings=settings) == [(1, ["revenue_above_ceiling"])]


def test_user_velocity_flags_the_6th_and_blocks_the_21st_purchase_in_a_minute(fraud) -> None:
    appspace = f"as_{uuid.uuid4().hex[:8]}"
    orders = [checked(event(transaction_id=f"o{i}"), at=T0 + timedelta(seconds=2 * i), ip="") for i in range(21)]
    verdicts = [check(fraud, order, appspace=appspace)[0] for order in orders]
    assert [severity for severity, _ in verdicts] == [0] * 5 + [1] * 15 + [2]
    assert verdicts[5] == (1, ["user_purchase_velocity"])


def test_backfills_are_judged_by_event_time(fraud) -> None:
    appspace = f"as_{uuid.uuid4().hex[:8]}"
    old = T0 - timedelta(days=30)
    verdicts = [check(fraud, checked(event(transaction_id=f"b{i}"), at=old + timedelta(minutes=i), ip=""),
                      appspace=appspace, secret=True)[0] for i in range(10)]
    assert verdicts == [(0, [])] * 10


def test_ip_velocity_for_secret_keys_uses_the_context_ip_only(fraud) -> None:
    appspace = f"as_{uuid.uuid4().hex[:8]}"
    settings = {"ip_purchases_per_hour": [2, 5], "user_purchases_per_minute": [100, 100]}
    server = [check(fraud, checked(event(transaction_id=f"s{i}", user_id=f"u{i}"), ip="203.0.113.9"),
                    appspace=appspace, secret=True, settings=settings)[0] for i in range(4)]
    assert server == [(0, [])] * 4  # the request's own address is the merchant's server
    client = [check(fraud, checked(event(transaction_id=f"c{i}", user_id=f"v{i}", context={"ip": "198.51.100.7"})),
                    appspace=appspace, secret=True, settings=settings)[0][0] for i in range(4)]
    assert client == [0, 0, 1, 1]


def test_disallowed_currencies_are_blocked(fraud) -> None:
    settings = {"allowed_currencies": ["USD", "EUR"]}
    assert check(fraud, checked(event(currency="GBP")), settings=settings) == [(2, ["currency_not_allowed"])]
    assert check(fraud, checked(event(currency="EUR")), settings=settings) == [(0, [])]


def test_redis_down_skips_only_the_velocity_rule() -> None:
    from carthouse.redis_server import connect, free_port
    from services.fraud.servicer import FraudServicer
    from services.fraud.velocity import VelocityCounter

    servicer = FraudServicer(VelocityCounter(connect(f"redis://127.0.0.1:{free_port()}/0")))
    request = fraud_pb2.CheckRequest(appspace_id="as_x", events=[checked(event(currency="GBP"))],
                                     settings_json=json.dumps({"allowed_currencies": ["USD"]}), base_digits=2)
    (verdict,) = servicer.Check(request, None).verdicts
    assert (verdict.severity, list(verdict.reasons)) == (2, ["currency_not_allowed",
                                                             "velocity_unchecked_redis_unavailable"])

