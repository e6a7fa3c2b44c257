"""Queries hide a user whose deletion is recorded, before the worker has removed a row: on a store with no
deletion worker (no stack in this module), so the request stays pending for the whole test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from carthouse.store import Store
from services.analytics import deletions, funnel_reach
from services.analytics.queries import channels, funnel, people, revenue
from services.analytics.queries.scope import scope_params

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHOP, OTHER = "as_pending_shop", "as_pending_other"


def scope(store: Store) -> dict[str, object]:
    """The parameters as the servicer binds them for a request now: the pending users are read each time."""
    return scope_params(store, SHOP, NOW - timedelta(days=1), NOW, False)


def test_a_pending_deletion_hides_the_user_from_every_query(store: Store) -> None:
    store.execute(
        # Through events_ingest, as ingest writes: its views fill events and the tables derived from it.
        "INSERT INTO events_ingest (appspace_id, event_time, event_type, user_id, transaction_id, revenue) VALUES "
        "({shop:String}, {at:DateTime64(3, 'UTC')}, 'view_item', 'keep', '', NULL), "
        "({shop:String}, {at:DateTime64(3, 'UTC')}, 'purchase', 'keep', 'o1', 1000), "
        "({shop:String}, {at:DateTime64(3, 'UTC')}, 'view_item', 'gone', '', NULL), "
        "({shop:String}, {at:DateTime64(3, 'UTC')}, 'purchase', 'gone', 'o2', 2500)",
        {"shop": SHOP, "at": NOW - timedelta(hours=1)},
    )
    before = revenue.totals(store, scope(store), NOW)
    assert (before["purchase_revenue"], before["orders"], before["viewing_actors"]) == (3500, 2, 2)
    assert active_actors(store) == (2, 2)
    assert cohort_users(store) == 2
    funnel_reach.store_round(store, margin=timedelta(0))  # the funnel from the actors' reach from here on
    assert store.scalar(funnel.REACH_ANSWERS, scope(store))
    assert funnel.step_counts(store, scope(store)) == [2, 0, 0, 0, 0, 0]
    deletions.record(store, OTHER, "gone", NOW)  # another appspace's request changes nothing here
    assert revenue.totals(store, scope(store), NOW) == before
    deletions.record(store, SHOP, "gone", NOW)
    after = revenue.totals(store, scope(store), NOW)
    assert (after["purchase_revenue"], after["orders"], after["viewing_actors"]) == (1000, 1, 1)
    assert funnel.step_counts(store, scope(store)) == [1, 0, 0, 0, 0, 0]
    assert store.query(funnel.LEVELS, scope(store)) == [{"level": 1, "actors": 1}]
    assert active_actors(store) == (1, 1)
    assert cohort_users(store) == 1


def active_actors(store: Store) -> tuple[int, int]:
    """Revenue-by-channel's count of active actors, from events and from actor_hours (the range is whole hours)."""
    return (int(store.scalar(channels.ACTIVE_ACTORS, scope(store))),
            int(store.scalar(channels.ACTIVE_ACTORS_BY_HOUR, scope(store))))


def cohort_users(store: Store) -> int:
    """The users of every cohort since the first month kept."""
    params = {**scope(store), "tz": "UTC", "kept_since": NOW - timedelta(days=365)}
    users, _ = people.cohorts(store, params, date(2025, 1, 1))
    return sum(users.values())
