"""The statements that answer long ranges from what the background workers keep (the funnel reach and each
actor's last add to cart and last event, judged carts) against the same answers from raw events, endpoint by
endpoint, on the query benchmark's own data set (bench/generate.py: visits in funnel order over a year, carts,
purchases with items, refunds, campaign landings, a few flagged purchases), for ranges ending today in two time
zones, flagged events in and out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.generate import EVENT_COLUMNS, event_sql
from carthouse.store import Store
from carthouse.store.base import ONE_BLOCK
from services.analytics import cart_states, funnel_reach, last_touches
from services.analytics.queries import carts, channels, funnel, revenue
from services.analytics.queries.scope import scope_params
from tests.support.ranges import ranges_ending_today

EVENTS = 60_000
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def shop(store: Store) -> str:
    """The large appspace of a year of generated events, with every worker's first round done."""
    appspaces = [f"as_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    store.execute(f"INSERT INTO events_ingest ({', '.join(f'`{c}`' for c in EVENT_COLUMNS)})"
                  + event_sql(appspaces, 365) + f"\nSETTINGS {ONE_BLOCK}",
                  {"offset": 0, "count": EVENTS, "offset_end": EVENTS})
    for store_round in (last_touches.store_round, funnel_reach.store_round, cart_states.store_round):
        store_round(store, timedelta(0))
    return appspaces[0]


def _ranges(store: Store, appspace: str) -> list[dict[str, Any]]:
    return [{**scope_params(store, appspace, since, until, flagged), "now": NOW}
            for _, _, since, until in ranges_ending_today(NOW, ("UTC", "Asia/Kolkata"), (365, 200, 121, 45))
            for flagged in (False, True)]


def _row(store: Store, sql: str, params: dict[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in store.query(sql, params)[0].items()}


@pytest.mark.parametrize(("from_events_sql", "from_reach_sql", "counted"), [
    (revenue.ACTORS, revenue.ACTORS_REACHED, "viewing_actors"),  # the overview's viewing and carting actors
    (channels.ACTIVE_ACTORS, channels.ACTIVE_ACTORS_REACHED, "actors"),  # revenue-by-channel's active actors
], ids=["overview", "revenue-by-channel"])
def test_actor_counts_from_the_reach_are_those_of_the_events(store: Store, shop: str, from_events_sql: str,
                                                             from_reach_sql: str, counted: str) -> None:
    for params in _ranges(store, shop):
        assert funnel.reach_answers(store, params)
        from_events = _row(store, from_events_sql, params)
        assert from_events[counted] > 1_000
        assert _row(store, from_reach_sql, params) == from_events


def test_cart_abandonment_from_judged_carts_is_that_of_the_events(store: Store, shop: str) -> None:
    for params in _ranges(store, shop):
        from_events = _row(store, carts.ABANDONMENT, params)
        assert from_events["abandoned_carts"] > 100 and from_events["completed_carts"] > 10
        judged = carts._from_states(store, params, with_value=True)
        assert judged is not None and {key: int(value) for key, value in judged.items()} == from_events


def test_the_funnel_from_the_reach_is_that_of_the_events(store: Store, shop: str) -> None:
    for params in _ranges(store, shop):
        assert funnel.reach_answers(store, params)
        levels = {int(r["level"]): int(r["actors"]) for r in store.query(funnel.LEVELS, params)}
        reached = {int(r["level"]): int(r["actors"]) for r in store.query(funnel.REACHED_LEVELS, params)}
        assert {k: v for k, v in reached.items() if k} == {k: v for k, v in levels.items() if k}
