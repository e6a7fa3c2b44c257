"""The funnel from each actor's reach (services/analytics/funnel_reach.py) against windowFunnel over the raw
events, on a real store: a random shop's step events over six weeks (users and anonymous visitors, flagged events,
ties within a request, groups arriving late and backdated), ranges ending today in three time zones, flagged events
in and out, a user whose deletion is pending, a deleted user, and actors the worker has not reached yet."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from carthouse.store import Store
from services.analytics import deletions, funnel_reach
from services.analytics.queries import funnel
from services.analytics.queries.scope import scope_params
from tests.support.ranges import ranges_ending_today

NOW = datetime.now(UTC).replace(microsecond=0)
COLUMNS = ["appspace_id", "event_time", "event_id", "event_type", "user_id", "anonymous_id", "fraud_severity", "seq"]
ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata")
# Range lengths in days compared (the events span 42 days, visits up to 3 weeks).
SPANS = (1, 2, 3, 5, 8, 13, 21, 30, 38, 43)


def _group(rng: random.Random, appspace: str, actors: list[tuple[str, str]], days_back: int) -> list[bytes]:
    """One INSERT's events: a few actors' visits of 1-8 steps, mostly in funnel order, some with shared times."""
    rows = []
    for user, anonymous in rng.sample(actors, k=min(len(actors), rng.randint(1, 6))):
        at = NOW - timedelta(days=rng.uniform(0, days_back), minutes=15)
        for seq in range(rng.randint(1, 8)):
            step = min(len(funnel.STEPS), max(1, seq + rng.choice([0, 0, 1, -1, -3])))
            # Never later than now, as ingest allows (several events may end at the same moment).
            at = min(at + timedelta(seconds=rng.choice([0, 0, 40, 3600, 86400 * 3])), NOW - timedelta(minutes=1))
            rows.append(json.dumps([appspace, at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], str(uuid.uuid4()),
                                    funnel.STEPS[step - 1], user, anonymous, int(rng.random() < 0.1), seq]).encode())
    return rows


def _ingest(store: Store, rng: random.Random, appspace: str, actors: list[tuple[str, str]], groups: int,
            days_back: int = 42) -> None:
    for _ in range(groups):
        store.insert_rows("events_ingest", COLUMNS, _group(rng, appspace, actors, days_back))


def _levels(store: Store, sql: str, params: dict[str, Any]) -> dict[int, int]:
    return {int(r["level"]): int(r["actors"]) for r in store.query(sql, params) if int(r["level"]) > 0}


def _assert_same_answers(store: Store, appspace: str) -> int:
    """Both statements, ranges of SPANS days ending today in three zones, flagged in and out; answers how many
    ranges were compared."""
    compared = 0
    for zone, days, since, until in ranges_ending_today(NOW, ZONES, SPANS):
        for flagged in (False, True):
            params = scope_params(store, appspace, since, until, flagged)
            assert store.scalar(funnel.REACH_ANSWERS, params)
            raw = _levels(store, funnel.LEVELS, params)
            assert _levels(store, funnel.REACHED_LEVELS, params) == raw, (zone, days, flagged)
            compared += 1
    return compared


@pytest.fixture(scope="module")
def shop(store: Store) -> tuple[str, list[tuple[str, str]], random.Random]:
    rng = random.Random(26)
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    actors = [(f"u{n}", "") for n in range(25)] + [("", f"anon-{n}") for n in range(15)]
    _ingest(store, rng, appspace, actors, groups=40)
    return appspace, actors, rng


def test_before_the_first_round_the_funnel_reads_raw_events_and_after_it_both_agree(store: Store, shop) -> None:
    appspace, _, _ = shop
    params = scope_params(store, appspace, NOW - timedelta(days=30), NOW + timedelta(days=1), False)
    assert not store.scalar(funnel.REACH_ANSWERS, params)  # no round yet
    funnel_reach.store_round(store, margin=timedelta(0))  # the first round fills every actor
    assert store.scalar("SELECT uniqExact(actor_key) FROM funnel_reach WHERE appspace_id = {a:String}",
                        {"a": appspace}) == 40
    assert funnel.step_counts(store, params)[0] > 0
    assert _assert_same_answers(store, appspace) == len(ZONES) * len(SPANS) * 2


def test_groups_arriving_after_a_round_late_or_backdated_are_counted_before_and_after_the_next(store: Store,
                                                                                              shop) -> None:
    appspace, actors, rng = shop
    _ingest(store, rng, appspace, actors, groups=10, days_back=2)  # live traffic
    _ingest(store, rng, appspace, actors, groups=10, days_back=40)  # history arriving late
    _assert_same_answers(store, appspace)  # their actors from raw events
    assert funnel_reach.store_round(store, margin=timedelta(0)) > 0
    _assert_same_answers(store, appspace)  # from the reach again
    unstored = store.scalar(f"SELECT count() FROM funnel_dirty WHERE appspace_id = {{a:String}} "
                            f"AND inserted_at > {funnel.DONE_UNTIL}", {"a": appspace})
    assert unstored == 0


def test_a_pending_deletion_and_a_deleted_user_leave_both_answers_equal_and_no_reach_behind(store: Store,
                                                                                           shop) -> None:
    appspace, _, _ = shop
    funnel_reach.store_round(store, margin=timedelta(0))  # as the tests before it left it, when it runs alone
    deletions.record(store, appspace, "u3", NOW)
    params = scope_params(store, appspace, NOW - timedelta(days=40), NOW + timedelta(days=1), False)
    assert params["pending"] == ["u3"]
    assert _levels(store, funnel.REACHED_LEVELS, params) == _levels(store, funnel.LEVELS, params)
    rows, emptied = deletions.delete_user(store, None, appspace, "u3")
    assert emptied and rows > 0
    reach_left = store.scalar("SELECT count() FROM funnel_reach WHERE appspace_id = {a:String} AND user_id = 'u3'",
                              {"a": appspace})
    assert reach_left == 0
    _assert_same_answers(store, appspace)


def test_a_range_that_ends_before_stored_events_is_answered_from_raw_events(store: Store, shop) -> None:
    appspace, _, _ = shop
    until = datetime.combine(date.today() - timedelta(days=10), time(), UTC)
    params = scope_params(store, appspace, until - timedelta(days=20), until, False)
    assert not store.scalar(funnel.REACH_ANSWERS, params)
    assert funnel.step_counts(store, params)[0] == sum(_levels(store, funnel.LEVELS, params).values())
