"""The last-touch worker (services/analytics/last_touches.py) on a real store: which marked users a round takes,
how far its mark moves, and the days of marks it drops."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from carthouse.store import Store
from services.analytics.last_touches import store_round
from services.analytics.queries.channels import PENDING_ROUND

BOUGHT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _ingest_group(store: Store, appspace: str, rows: list[tuple[str, str, str]],
                  at: datetime = BOUGHT) -> None:
    """(event type, user, campaign) rows in one INSERT, as ingest writes a group (by default an hour ago)."""
    columns = ["appspace_id", "event_time", "event_id", "event_type", "user_id", "revenue", "properties"]
    store.insert_rows("events_ingest", columns, [json.dumps(
        [appspace, at.strftime("%Y-%m-%d %H:%M:%S.000"), str(uuid.uuid4()), kind, user,
         100 if kind == "purchase" else None, {"campaign": campaign} if campaign else {}]).encode()
        for kind, user, campaign in rows])


def _pending(store: Store, appspace: str) -> list[str]:
    return sorted(row["user_id"] for row in store.query(PENDING_ROUND, {"appspace": appspace}))


def _last_touch_set(store: Store, appspace: str) -> list[tuple[str, bool]]:
    return [(row["user_id"], bool(row["touched"])) for row in store.query(
        "SELECT user_id, max(last_touch) > 0 AS touched FROM purchase_channels WHERE appspace_id = {a:String} "
        "GROUP BY user_id ORDER BY user_id", {"a": appspace})]


def test_a_round_takes_users_marked_more_than_the_margin_ago(store: Store) -> None:
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    # m1 bought after a touch of the same group; m2 only bought; an anonymous purchase marks nobody.
    _ingest_group(store, appspace, [("view_item", "m1", "spring"), ("purchase", "m1", ""), ("purchase", "m2", ""),
                                    ("purchase", "", "")])
    assert _pending(store, appspace) == ["m1", "m2"]
    assert _last_touch_set(store, appspace) == [("", False), ("m1", False), ("m2", False)]

    store_round(store)  # marked just now: within the margin, left for a later round
    assert _pending(store, appspace) == ["m1", "m2"]
    assert _last_touch_set(store, appspace) == [("", False), ("m1", False), ("m2", False)]

    assert store_round(store, margin=timedelta(0)) >= 2
    assert _pending(store, appspace) == []
    assert _last_touch_set(store, appspace) == [("", False), ("m1", True), ("m2", False)]

    # A touch arriving later marks its user again; the next round stores the purchase's new last touch.
    _ingest_group(store, appspace, [("view_item", "m2", "autumn")])
    assert _pending(store, appspace) == ["m2"]
    assert store_round(store, margin=timedelta(0)) >= 1
    assert _pending(store, appspace) == []
    assert _last_touch_set(store, appspace) == [("", False), ("m1", True), ("m2", True)]


def test_a_round_drops_the_days_of_marks_before_the_day_before_its_mark(store: Store) -> None:
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    for days_ago in (3, 0):
        store.execute("INSERT INTO attribution_dirty VALUES ({a:String}, 'old', {at:DateTime64(3, 'UTC')}, "
                      "{at:DateTime64(3, 'UTC')}, {at:DateTime64(3, 'UTC')})",
                      {"a": appspace, "at": now - timedelta(days=days_ago)})
    store_round(store, margin=timedelta(0))
    left = store.query("SELECT toDate(inserted_at) AS day FROM attribution_dirty WHERE appspace_id = {a:String}",
                       {"a": appspace})
    assert left == [{"day": str(now.date())}]


def test_a_late_touch_reaches_the_stored_purchases_of_its_lookback_only(store: Store) -> None:
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    _ingest_group(store, appspace, [("purchase", "k1", "")])
    store_round(store, margin=timedelta(0))

    def last_campaign() -> int:
        return int(store.scalar("SELECT bitAnd(max(last_touch), 0xFFFFFFFFFFFFFFFF) FROM purchase_channels "
                                "WHERE appspace_id = {a:String}", {"a": appspace}))

    def channel(campaign: str) -> int:
        return int(store.scalar("SELECT cityHash64({c:String}, '', '')", {"c": campaign}))

    # 40 days before the purchase: outside its 30-day lookback, the round leaves it without a touch.
    _ingest_group(store, appspace, [("view_item", "k1", "forty")], at=BOUGHT - timedelta(days=40))
    assert store_round(store, margin=timedelta(0)) >= 1
    assert last_campaign() == 0
    # 20 days before: inside; the round finds the purchase 20 days after the touch and stores it.
    _ingest_group(store, appspace, [("view_item", "k1", "twenty")], at=BOUGHT - timedelta(days=20))
    assert store_round(store, margin=timedelta(0)) >= 1
    assert last_campaign() == channel("twenty")
