"""Cart abandonment from judged carts (services/analytics/cart_states.py) against the judgement over raw events,
on a real store: a random shop's cart events and purchases over six weeks (users and anonymous visitors, carts
shared by a visitor and the user it logs in as, carts without an id, removes, purchases by cart and by actor,
flagged events, ties within a request, carts active in the last hour, groups arriving late and backdated), ranges
ending today in three time zones, flagged events in and out, a user whose deletion is pending, a deleted user,
and carts the worker has not reached yet."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from carthouse.store import Store
from services.analytics import cart_states, deletions
from services.analytics.queries import carts
from services.analytics.queries.scope import scope_params
from tests.support.ranges import ranges_ending_today

NOW = datetime.now(UTC).replace(microsecond=0)
COLUMNS = ["appspace_id", "event_time", "event_id", "event_type", "user_id", "anonymous_id", "cart_id",
           "fraud_severity", "seq", "items.item_id", "items.price", "items.quantity"]
ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata")
SPANS = (1, 2, 3, 8, 21, 43)
CART_IDS = [f"cart-{n}" for n in range(30)]


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _visit(rng: random.Random, appspace: str, user: str, anonymous: str, days_back: float) -> list[bytes]:
    """One visitor's cart events and maybe a purchase, some as the anonymous visitor before logging in as the
    user with the same cart."""
    cart = rng.choice(CART_IDS) if rng.random() < 0.7 else ""
    at = NOW - timedelta(days=rng.uniform(0, days_back), minutes=rng.choice([5, 30, 90, 600]))
    rows = []
    for seq in range(rng.randint(1, 6)):
        kind = rng.choices(["add_to_cart", "remove_from_cart", "purchase"], weights=[6, 2, 2])[0]
        who_user, who_anonymous = (user, anonymous) if rng.random() < 0.7 else ("", anonymous or f"anon-{seq}")
        purchase_cart = cart if rng.random() < 0.5 else ""
        items = [] if kind == "purchase" else [rng.choice([1250, 999, 40000])]
        # Never later than now, as ingest allows; several events may share a moment (seq orders them).
        at = min(at + timedelta(seconds=rng.choice([0, 0, 40, 3600, 86400 * 3])), NOW - timedelta(minutes=1))
        rows.append(json.dumps([
            appspace, _at(at), str(uuid.uuid4()), kind, who_user, who_anonymous,
            purchase_cart if kind == "purchase" else cart, int(rng.random() < 0.1), seq,
            ["sku"] * len(items), items, [rng.randint(1, 3)] * len(items)]).encode())
    return rows


def _ingest(store: Store, rng: random.Random, appspace: str, groups: int, days_back: float = 42) -> None:
    for _ in range(groups):
        rows = []
        for _ in range(rng.randint(1, 5)):
            user = f"u{rng.randrange(20)}" if rng.random() < 0.6 else ""
            rows += _visit(rng, appspace, user, f"a{rng.randrange(12)}" if rng.random() < 0.8 else "", days_back)
        store.insert_rows("events_ingest", COLUMNS, rows)


def _params(store: Store, appspace: str, since: datetime, until: datetime, flagged: bool) -> dict[str, Any]:
    return {**scope_params(store, appspace, since, until, flagged), "now": NOW}


def _raw(store: Store, params: dict[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in store.query(carts.ABANDONMENT, params)[0].items()}


def _stored(store: Store, params: dict[str, Any]) -> dict[str, int]:
    row = carts._from_states(store, params, with_value=True)
    assert row is not None, "judged carts do not answer the range"
    return {key: int(value) for key, value in row.items()}


def _assert_same_answers(store: Store, appspace: str) -> int:
    """Both judgements, ranges of SPANS days ending today in three zones, flagged in and out; answers how many
    ranges held carts."""
    holding = 0
    for zone, days, since, until in ranges_ending_today(NOW, ZONES, SPANS):
        for flagged in (False, True):
            params = _params(store, appspace, since, until, flagged)
            raw = _raw(store, params)
            assert _stored(store, params) == raw, (zone, days, flagged)
            holding += raw["completed_carts"] + raw["abandoned_carts"] > 0
    return holding


def _unstored_carts(store: Store, appspace: str) -> int:
    return int(store.scalar(f"SELECT count() FROM cart_dirty WHERE appspace_id = {{a:String}} "
                            f"AND inserted_at > {carts.DONE_UNTIL}", {"a": appspace}))


@pytest.fixture(scope="module")
def shop(store: Store) -> tuple[str, random.Random]:
    rng = random.Random(22)
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    _ingest(store, rng, appspace, groups=60)
    return appspace, rng


def test_before_the_first_round_carts_are_judged_from_raw_events_and_after_it_both_agree(store: Store,
                                                                                        shop) -> None:
    appspace, _ = shop
    params = _params(store, appspace, NOW - timedelta(days=30), NOW + timedelta(days=1), False)
    assert carts._from_states(store, params, with_value=True) is None  # no round yet
    assert carts.abandonment(store, params, NOW) == _raw(store, params)
    cart_states.store_round(store, margin=timedelta(0))  # the first round judges every cart
    judged = store.scalar("SELECT sum(sign) FROM cart_states WHERE appspace_id = {a:String} AND clean = 0",
                          {"a": appspace})
    every_cart = store.scalar("SELECT uniqExact(cart_key) FROM cart_activity WHERE appspace_id = {a:String} "
                              "AND event_type != 'purchase'", {"a": appspace})
    assert judged == every_cart > 30
    assert _assert_same_answers(store, appspace) == len(ZONES) * len(SPANS) * 2


def test_groups_arriving_after_a_round_late_or_backdated_are_judged_before_and_after_the_next(store: Store,
                                                                                           shop) -> None:
    appspace, rng = shop
    _ingest(store, rng, appspace, groups=12, days_back=0.05)  # live traffic, carts active in the last hour
    _ingest(store, rng, appspace, groups=12, days_back=40)  # history arriving late
    assert _unstored_carts(store, appspace) > 0
    _assert_same_answers(store, appspace)  # their carts from raw events
    assert cart_states.store_round(store, margin=timedelta(0)) > 0
    assert _unstored_carts(store, appspace) == 0
    _assert_same_answers(store, appspace)  # from the judged carts again


def test_a_purchase_by_a_carts_last_actor_completes_it_before_and_after_the_next_round(store: Store) -> None:
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    filled = NOW - timedelta(hours=3)
    # cart-x filled anonymously, then by the user a-9 logs in as; nobody buys yet: abandoned, 2 x 1250 left.
    store.insert_rows("events_ingest", COLUMNS, [
        json.dumps([appspace, _at(filled), str(uuid.uuid4()), "add_to_cart", "", "a-9", "cart-x", 0, 0,
                    ["sku"], [1250], [1]]).encode(),
        json.dumps([appspace, _at(filled), str(uuid.uuid4()), "add_to_cart", "buyer", "a-9", "cart-x", 0, 1,
                    ["sku"], [1250], [1]]).encode()])
    cart_states.store_round(store, margin=timedelta(0))
    params = _params(store, appspace, NOW - timedelta(days=7), NOW + timedelta(days=1), False)
    abandoned = {"completed_carts": 0, "abandoned_carts": 1, "abandoned_value": 2500}
    assert _stored(store, params) == _raw(store, params) == abandoned
    # The user buys without naming the cart: the cart's last actor bought after its first event.
    store.insert_rows("events_ingest", COLUMNS, [json.dumps(
        [appspace, _at(NOW - timedelta(hours=1)), str(uuid.uuid4()), "purchase", "buyer", "", "", 0, 0, [], [],
         []]).encode()])
    completed = {"completed_carts": 1, "abandoned_carts": 0, "abandoned_value": 0}
    assert _stored(store, params) == _raw(store, params) == completed
    cart_states.store_round(store, margin=timedelta(0))
    assert _stored(store, params) == completed
    assert store.scalar("SELECT sum(sign * completed) FROM cart_states WHERE appspace_id = {a:String}",
                        {"a": appspace}) == 2  # the cart, judged every way and unflagged


def test_a_pending_deletion_reads_raw_events_and_a_deleted_user_leaves_no_judged_cart_behind(store: Store,
                                                                                             shop) -> None:
    appspace, _ = shop
    cart_states.store_round(store, margin=timedelta(0))
    user = "u3"
    assert store.scalar("SELECT count() FROM cart_activity WHERE appspace_id = {a:String} AND user_id = {u:String}",
                        {"a": appspace, "u": user}) > 0
    deletions.record(store, appspace, user, NOW)
    params = _params(store, appspace, NOW - timedelta(days=40), NOW + timedelta(days=1), False)
    assert params["pending"] == [user]
    assert carts.abandonment(store, params, NOW) == _raw(store, params)  # the raw events, the user left out
    rows, emptied = deletions.delete_user(store, None, appspace, user)
    assert emptied and rows > 0
    for table in ("cart_states", "cart_dirty", "cart_activity"):
        left = store.scalar(f"SELECT count() FROM {table} WHERE appspace_id = {{a:String}} AND user_id = {{u:String}}",
                            {"a": appspace, "u": user})
        assert left == 0, table
    # The deletion judged the user's carts again without the user's rows; nothing is left for the worker.
    assert _unstored_carts(store, appspace) == 0
    deletions.mark_done(store, {"appspace_id": appspace, "user_id": user, "requested_at": NOW}, rows, NOW)
    _assert_same_answers(store, appspace)


def test_a_range_that_ends_before_stored_cart_events_is_judged_from_raw_events(store: Store, shop) -> None:
    appspace, _ = shop
    until = datetime.combine(date.today() - timedelta(days=10), time(), UTC)
    params = _params(store, appspace, until - timedelta(days=20), until, False)
    assert carts._from_states(store, params, with_value=True) is None
    assert carts.abandonment(store, params, NOW) == _raw(store, params)
