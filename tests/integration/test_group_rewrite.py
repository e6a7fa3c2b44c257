"""A group a killed writer left unfinished is written again so that every table holds it exactly once, whatever
the kill left (real ClickHouse): nothing, everything, or every table but one, including a table whose
deduplication log names the group's block while its part is missing (what a kill between the log and the part's
commit leaves; simulated here by deleting that table's rows of a group written with its token)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from carthouse.store import Store
from services.ingest.amounts import EventAmounts
from services.ingest.model import IncomingEvent, IncomingItem, RequestContext
from services.ingest.rows import EVENT_COLUMNS, StoredEvent, build_row, clickhouse_time, with_verdict
from services.ingest.storage import (
    FOLDED_ON_REPEAT,
    KEPT_PER_EVENT_BY_ID,
    KEPT_PER_EVENT_BY_ROW,
    rewrite_events,
    write_events,
)

MOMENT = clickhouse_time(datetime(2026, 11, 3, 10, 0, 0, tzinfo=UTC))
SPRING = {"utm_campaign": "spring", "utm_source": "news", "utm_medium": "email"}


def row(appspace_id: str, event: IncomingEvent, seq: int = 0) -> StoredEvent:
    return build_row(event, appspace_id=appspace_id, base_currency="USD", event_time=MOMENT, received_at=MOMENT,
                     key_kind="secret", request=RequestContext(), amounts=EventAmounts("USD"), seq=seq,
                     enrich=False)


def group(appspace_id: str) -> list[bytes]:
    """A group reaching every table the views fill: items, properties, a campaign touch, a cart, a purchase, the
    funnel's steps and a flagged event."""
    shoe = IncomingItem(item_id="shoe", price=40.0, quantity=2)
    events = [
        row(appspace_id, IncomingEvent(event_type="view_item", anonymous_id="anon-1", items=[shoe]), 0),
        row(appspace_id, IncomingEvent(event_type="add_to_cart", user_id="ann", items=[shoe], properties=SPRING), 1),
        row(appspace_id, IncomingEvent(event_type="purchase", user_id="ann", transaction_id="o-1", revenue=80.0,
                                       items=[shoe], properties=SPRING), 2),
        with_verdict(row(appspace_id, IncomingEvent(event_type="purchase", user_id="bob", transaction_id="o-2",
                                                    revenue=9.0, items=[shoe])), 1, ["velocity"]),
    ]
    return [event.line for event in events]


def outsider(appspace_id: str) -> list[bytes]:
    """Another shopper's view at the group's moment and index: its funnel row differs from the group's only in
    the actor."""
    return [row(appspace_id, IncomingEvent(event_type="view_item", anonymous_id="anon-9")).line]


def holdings(store: Store, appspace_id: str) -> dict[str, Any]:
    """What each table holds of the appspace: rows of the tables kept per event, answers of the folded ones."""
    params = {"a": appspace_id}
    kept = {table: int(store.scalar(f"SELECT count() FROM {table} WHERE appspace_id = {{a:String}}", params))
            for table in (*KEPT_PER_EVENT_BY_ID, *KEPT_PER_EVENT_BY_ROW)}
    folded = {
        "actor_hours": store.query("SELECT actor_key, groupBitOr(did) AS did FROM actor_hours "
                                   "WHERE appspace_id = {a:String} GROUP BY actor_key ORDER BY actor_key", params),
        "purchase_channels": store.query("SELECT revenue, own_channel FROM purchase_channels FINAL "
                                         "WHERE appspace_id = {a:String} ORDER BY revenue", params),
        "fraud_events": store.query("SELECT audit_key, severity FROM fraud_events FINAL "
                                    "WHERE appspace_id = {a:String} ORDER BY audit_key", params),
    }
    marks = {table: store.scalar(f"SELECT groupUniqArray(user_id) FROM {table} WHERE appspace_id = {{a:String}}",
                                 params) for table in ("attribution_dirty", "funnel_dirty", "cart_dirty")}
    return {**kept, **folded, **{table: sorted(users) for table, users in marks.items()}}


def lose(store: Store, table: str, appspace_id: str, lines: list[bytes]) -> None:
    """The table's rows of the group removed, the outsider's kept: what a part never committed leaves."""
    group_ids = [orjson.loads(line)[EVENT_COLUMNS.index("event_id")] for line in lines]
    of_group = ("event_id IN {ids:Array(UUID)}" if table in KEPT_PER_EVENT_BY_ID
                else "actor_key != cityHash64('anon-9')")
    store.execute(f"DELETE FROM {table} WHERE appspace_id = {{a:String}} AND {of_group}",
                  {"a": appspace_id, "ids": group_ids})


@pytest.fixture(scope="module")
def written_once(store: Store) -> dict[str, Any]:
    """What one plain write of the group and the outsider leaves, without its appspace."""
    appspace_id = f"once-{uuid.uuid4().hex[:8]}"
    write_events(store, group(appspace_id) + outsider(appspace_id), uuid.uuid4().hex)
    return holdings(store, appspace_id)


def test_every_table_the_views_fill_is_kept_per_event_or_folds_on_repeat(store: Store) -> None:
    """From events_ingest through every view, and the views reading those views' tables (a view <table>_mv
    writes <table>)."""
    views = {row["name"]: row["dependencies_table"] for row in store.query(
        "SELECT name, dependencies_table FROM system.tables WHERE database = currentDatabase()")}
    filled: list[str] = []
    sources = ["events_ingest"]
    while sources:
        reached = [view.removesuffix("_mv") for view in views[sources.pop()]]
        filled += reached
        sources += reached
    assert sorted(filled) == sorted((*KEPT_PER_EVENT_BY_ID, *KEPT_PER_EVENT_BY_ROW, *FOLDED_ON_REPEAT))


def test_the_group_written_once_reaches_every_table(written_once: dict[str, Any]) -> None:
    assert {table: written_once[table] for table in (*KEPT_PER_EVENT_BY_ID, *KEPT_PER_EVENT_BY_ROW)} == {
        "events": 5, "event_items": 4, "event_properties": 6, "touches": 2, "funnel_steps": 5, "cart_activity": 3}
    assert len(written_once["actor_hours"]) == 4
    assert len(written_once["purchase_channels"]) == 2
    assert len(written_once["fraud_events"]) == 1
    assert written_once["attribution_dirty"] == ["ann", "bob"]


@pytest.mark.parametrize("lost", [None, "everything", "events", "event_items", "funnel_steps", "cart_activity"])
def test_a_group_left_unfinished_is_held_once_by_every_table_after_it_is_written_again(
    store: Store, written_once: dict[str, Any], lost: str | None
) -> None:
    """``lost``: the table that kept the group's block in its deduplication log but not its rows; "everything"
    for a group whose INSERT never began; None for one the kill left complete."""
    appspace_id = f"again-{uuid.uuid4().hex[:8]}"
    write_events(store, outsider(appspace_id), uuid.uuid4().hex)
    lines = group(appspace_id)
    if lost != "everything":
        token = uuid.uuid4().hex
        write_events(store, lines, token)
        if lost is not None:
            lose(store, lost, appspace_id, lines)
            write_events(store, lines, token)  # what a repeat under the group's own token did: nothing there
            assert holdings(store, appspace_id)[lost] != written_once[lost]
    rewrite_events(store, lines)
    assert holdings(store, appspace_id) == written_once
    rewrite_events(store, lines)  # a writer killed while writing it again leaves the note: once more, same rows
    assert holdings(store, appspace_id) == written_once
