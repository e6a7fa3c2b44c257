"""The overview's distinct viewing and carting actors from actor_hours (migration 0020: a row per actor and hour
with a bit per event type) and from the funnel reach (each actor's last view and add to cart, migration 0023), and
revenue-by-channel's active actors from the reach (each actor's last event, migration 0024), against the same
counts from events, on a real store: random events over three days (users, anonymous visitors,
carts without either, flagged events, events without any actor), ranges of whole hours in two time zones and
ranges ending today in three, flagged in and out, actors the reach worker has not reached yet, a user whose
deletion is pending; and the migration's rebuild of a table kept in the earlier shape."""

from __future__ import annotations

import importlib
import json
import random
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from carthouse.store import Store
from carthouse.store.migrate import migration_files, statements
from services.analytics import deletions, funnel_reach
from services.analytics.queries import channels, funnel, revenue
from services.analytics.queries.scope import in_whole_hours, scope_params
from tests.support.ranges import ranges_ending_today

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
COLUMNS = ["appspace_id", "event_time", "event_id", "event_type", "user_id", "anonymous_id", "cart_id",
           "fraud_severity"]
TYPES = ("view_item", "add_to_cart", "purchase", "view_cart", "search")
MIGRATION = importlib.import_module("carthouse.store.migrations.0020_actor_hours_did")


def _events(rng: random.Random, appspace: str, count: int) -> list[bytes]:
    rows = []
    for _ in range(count):
        who = rng.choice([("u1", "", ""), ("u2", "", ""), ("u3", "", ""), ("", "a1", ""), ("", "a2", ""),
                          ("", "", "c1"), ("", "", "")])
        at = NOW - timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
        rows.append(json.dumps([appspace, at.strftime("%Y-%m-%d %H:%M:%S.000"), str(uuid.uuid4()),
                                rng.choice(TYPES), *who, int(rng.random() < 0.15)]).encode())
    return rows


@pytest.fixture(scope="module")
def shop(store: Store) -> str:
    rng = random.Random(20)
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    for _ in range(12):  # several INSERTs: rows of one actor and hour arrive apart, as under live traffic
        store.insert_rows("events_ingest", COLUMNS, _events(rng, appspace, 25))
    return appspace


def _both(store: Store, params: dict) -> tuple[dict, dict]:
    def counts(sql: str) -> dict:
        return {k: int(v) for k, v in store.query(sql, params)[0].items()}
    return counts(revenue.ACTORS), counts(revenue.ACTORS_BY_HOUR)


def test_the_counts_from_actor_hours_equal_those_from_events(store: Store, shop: str) -> None:
    compared = 0
    for zone in ("UTC", "America/New_York"):
        today = NOW.astimezone(ZoneInfo(zone)).date()
        until = datetime.combine(today + timedelta(days=1), time(), ZoneInfo(zone)).astimezone(UTC)
        for days in (1, 2, 3, 4):
            since = datetime.combine(today - timedelta(days=days - 1), time(), ZoneInfo(zone)).astimezone(UTC)
            for flagged in (False, True):
                params = scope_params(store, shop, since, until, flagged)
                assert in_whole_hours(params)
                from_events, from_hours = _both(store, params)
                assert from_hours == from_events, (zone, days, flagged)
                compared += from_events["viewing_actors"] > 0
    assert compared > 8  # the data set has viewers in most ranges
    deletions.record(store, shop, "u2", NOW)
    params = scope_params(store, shop, NOW - timedelta(days=4), NOW + timedelta(hours=1), False)
    from_events, from_hours = _both(store, params)
    assert from_hours == from_events


def _assert_reached_counts_equal_those_from_events(store: Store, shop: str) -> int:
    """Both counts for ranges ending today in three zones, flagged in and out; answers how many had carting
    actors."""
    def counts(sql: str, params: dict) -> dict:
        return {k: int(v) for k, v in store.query(sql, params)[0].items()}
    compared = 0
    for zone, days, since, until in ranges_ending_today(NOW, ("UTC", "America/New_York", "Asia/Kolkata"),
                                                        (1, 2, 3, 4)):
        for flagged in (False, True):
            params = scope_params(store, shop, since, until, flagged)
            assert store.scalar(funnel.REACH_ANSWERS, params)
            from_events = counts(revenue.ACTORS, params)
            assert counts(revenue.ACTORS_REACHED, params) == from_events, (zone, days, flagged)
            active = counts(channels.ACTIVE_ACTORS, params)
            assert counts(channels.ACTIVE_ACTORS_REACHED, params) == active, (zone, days, flagged)
            compared += from_events["cart_actors"] > 0
    return compared


def test_the_counts_from_the_funnel_reach_equal_those_from_events_for_ranges_ending_today(store: Store,
                                                                                         shop: str) -> None:
    funnel_reach.store_round(store, margin=timedelta(0))
    assert _assert_reached_counts_equal_those_from_events(store, shop) > 12
    # Events the worker has not reached yet: their actors are counted from their events.
    store.insert_rows("events_ingest", COLUMNS, _events(random.Random(23), shop, 40))
    _assert_reached_counts_equal_those_from_events(store, shop)
    funnel_reach.store_round(store, margin=timedelta(0))
    _assert_reached_counts_equal_those_from_events(store, shop)
    # u2's deletion is pending (recorded above): left out as everywhere.
    assert scope_params(store, shop, NOW - timedelta(days=1), NOW, False)["pending"] == ["u2"]
    # Which statement counts: the reach for long ranges and ranges of part hours ending today, else the hours (a
    # range ending before stored events, whatever its length, and short ones) or, for part hours, the events.
    long = scope_params(store, shop, NOW - timedelta(days=200), NOW + timedelta(hours=1), False)
    assert revenue.actor_counts(store, long) == revenue.ACTORS_REACHED
    kolkata = scope_params(store, shop, NOW - timedelta(days=2, minutes=30), NOW + timedelta(minutes=30), False)
    assert revenue.actor_counts(store, kolkata) == revenue.ACTORS_REACHED
    assert revenue.actor_counts(store, scope_params(store, shop, NOW - timedelta(days=2), NOW + timedelta(hours=1),
                                                    False)) == revenue.ACTORS_BY_HOUR
    past = scope_params(store, shop, NOW - timedelta(days=300), NOW - timedelta(days=1), False)
    assert revenue.actor_counts(store, past) == revenue.ACTORS_BY_HOUR
    past_part_hours = scope_params(store, shop, NOW - timedelta(days=3, minutes=30), NOW - timedelta(minutes=30),
                                   False)
    assert revenue.actor_counts(store, past_part_hours) == revenue.ACTORS
    # The active actors of revenue-by-channel's direct channel follow the same rule.
    assert channels.active_actors(store, long) == int(store.scalar(channels.ACTIVE_ACTORS, long))


def test_a_table_in_the_earlier_shape_is_rebuilt_with_the_bits_of_its_events(store: Store, shop: str) -> None:
    params = scope_params(store, shop, NOW - timedelta(days=4), NOW + timedelta(hours=1), True)
    expected = _both(store, params)[0]
    # The shape of migration 0014 (ReplacingMergeTree, no did), filled as its backfill did.
    store.execute("DROP VIEW actor_hours_mv")
    store.execute("CREATE TABLE actor_hours_old (appspace_id LowCardinality(String), hour DateTime('UTC'), "
                  "actor_key UInt64, flagged UInt8, user_id String) ENGINE = ReplacingMergeTree "
                  "PARTITION BY toYear(hour) ORDER BY (appspace_id, hour, actor_key, flagged, user_id)")
    store.execute("INSERT INTO actor_hours_old SELECT DISTINCT appspace_id, toStartOfHour(event_time), actor_key, "
                  "fraud_severity > 0, user_id FROM events WHERE actor_key != cityHash64('')")
    store.execute("EXCHANGE TABLES actor_hours AND actor_hours_old")
    store.execute("DROP TABLE actor_hours_old SYNC")
    MIGRATION.apply(store)
    MIGRATION.apply(store)  # a rerun leaves it as it is
    assert _both(store, params)[1] == expected
    # The view is back: a new actor's view counts at once.
    store.insert_rows("events_ingest", COLUMNS, [json.dumps(
        [shop, (NOW - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.000"), str(uuid.uuid4()), "view_item",
         "u9", "", "", 0]).encode()])
    assert _both(store, params)[1]["viewing_actors"] == expected["viewing_actors"] + 1


def test_the_bits_queries_name_are_the_migrations() -> None:
    assert MIGRATION.ACTIVITY[revenue.VIEW_BIT] == "view_item"
    assert MIGRATION.ACTIVITY[revenue.CART_BIT] == "add_to_cart"


def test_the_migration_gives_actors_stored_before_it_their_last_event(store: Store, shop: str) -> None:
    """An install whose worker filled the reach before migration 0024: the migration fills each stored actor's
    last event from events (the worker's first round, which does it otherwise, is over)."""
    funnel_reach.store_round(store, margin=timedelta(0))
    params = scope_params(store, shop, NOW - timedelta(days=200), NOW + timedelta(hours=1), True)
    expected = int(store.scalar(channels.ACTIVE_ACTORS, params))
    for column in ("last_active", "clean_last_active"):
        store.execute(f"ALTER TABLE funnel_reach DROP COLUMN {column}")
    for column in ("last_moment", "clean_last_moment"):
        store.execute(f"ALTER TABLE funnel_dirty DROP COLUMN {column}")
    [sql] = [sql for version, _, sql in migration_files() if version == 24]
    for _ in range(2):  # a rerun fills nothing twice
        for statement in statements(sql):
            store.execute(statement)
    assert int(store.scalar(channels.ACTIVE_ACTORS_REACHED, params)) == expected
    assert store.scalar("SELECT count() FROM funnel_reach WHERE appspace_id = {a:String} AND last_active > 0",
                        {"a": shop}) == store.scalar("SELECT uniqExact(actor_key) FROM events WHERE appspace_id = "
                                                     "{a:String} AND actor_key != cityHash64('')", {"a": shop})
