"""Deduplication claims that survive their writer (real redis-server, real ClickHouse): a writer killed between
claiming an event's keys and inserting it must not make the client's retry look like a duplicate, and a
writer killed after inserting must not let the retry be stored twice."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from app.redis_server import RedisServer
from carthouse.errors import Unavailable
from carthouse.store import Store, StoreUnavailable
from services.ingest import dedup, writer
from services.ingest.amounts import EventAmounts
from services.ingest.dedup import Deduplicator, Verdict
from services.ingest.journal import GroupJournal
from services.ingest.model import IncomingEvent, RequestContext
from services.ingest.rows import StoredEvent, build_row, clickhouse_time
from services.ingest.storage import write_events
from services.ingest.writer import GroupCommitWriter

FRESH, DUPLICATE, UNDECIDED = Verdict.FRESH, Verdict.DUPLICATE, Verdict.UNDECIDED


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def appspace() -> str:
    return f"dedup-{uuid.uuid4().hex[:8]}"


def eid(order: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, order))


def purchase(appspace_id: str, order: str) -> StoredEvent:
    """A purchase with both keys: its transaction's and its event_id's (``eid(order)``)."""
    event = IncomingEvent(event_type="purchase", transaction_id=order, revenue=10.0, currency="USD",
                          user_id=f"u-{order}", event_id=eid(order))
    now = clickhouse_time(datetime.now(UTC))
    return build_row(event, appspace_id=appspace_id, base_currency="USD", event_time=now, received_at=now,
                     key_kind="secret", request=RequestContext(), amounts=EventAmounts("USD"), seq=0,
                     enrich=False)


def stored(store: Store, appspace_id: str) -> dict[str, int]:
    rows = store.query("SELECT client_event_id AS id, count() AS n FROM events WHERE appspace_id = {a:String}"
                       " GROUP BY id ORDER BY id", {"a": appspace_id})
    return {row["id"]: int(row["n"]) for row in rows}


def silenced(writer: Deduplicator) -> None:
    """Its heartbeat stops (the process died or froze); its keys stay as they are."""
    writer._stopping.set()
    writer._heartbeat.join()


def killed(writer: Deduplicator, client: redis.Redis) -> None:
    """What kill -9 leaves: its claims, its committed record, no heartbeat (expired, or retired)."""
    silenced(writer)
    client.delete(f"dedup:writer:{writer.writer}")


def test_a_retry_of_events_claimed_by_a_writer_killed_before_its_insert_is_stored(
    client: redis.Redis, store: Store, appspace: str
) -> None:
    first = Deduplicator(client, store).start()
    events = [purchase(appspace, "o1"), purchase(appspace, "o2")]
    assert first.screen(events).verdicts == [FRESH, FRESH]
    killed(first, client)  # before write_events: nothing stored, both keys of both events claimed

    second = Deduplicator(client, store).start()
    retry = [purchase(appspace, "o1"), purchase(appspace, "o2")]
    screening = second.screen(retry)
    assert screening.verdicts == [FRESH, FRESH]
    # Every key is now this group's, so a failed write would release them and a later retry be re-screened.
    assert sorted(screening.claimed) == sorted(key for event in retry for key in event.dedup_keys)
    assert {client.get(key) for key in screening.claimed} == {second.claim_value.encode()}
    write_events(store, [event.line for event in retry], "t1")
    second.committed()
    assert second.screen([purchase(appspace, "o1")]).verdicts == [DUPLICATE]
    second.stop()
    assert stored(store, appspace) == {eid("o1"): 1, eid("o2"): 1}


def test_a_retry_of_events_a_killed_writer_stored_but_did_not_record_as_committed_is_a_duplicate(
    client: redis.Redis, store: Store, appspace: str
) -> None:
    first = Deduplicator(client, store).start()
    events = [purchase(appspace, "o1"), purchase(appspace, "o2")]
    assert first.screen(events).verdicts == [FRESH, FRESH]
    write_events(store, [events[0].line], "t2")  # o1 stored; killed before o2 and before committed()
    killed(first, client)

    second = Deduplicator(client, store).start()
    assert second.screen([purchase(appspace, "o1"), purchase(appspace, "o2")]).verdicts == [DUPLICATE, FRESH]
    second.stop()


def test_a_live_writers_uncommitted_group_is_undecided_until_it_commits_or_releases(
    client: redis.Redis, store: Store, appspace: str
) -> None:
    first = Deduplicator(client, store).start()
    second = Deduplicator(client, store).start()
    try:
        assert first.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
        assert second.screen([purchase(appspace, "o1"), purchase(appspace, "o9")]).verdicts == [UNDECIDED, FRESH]
        first.committed()
        assert second.screen([purchase(appspace, "o1")]).verdicts == [DUPLICATE]

        failing = first.screen([purchase(appspace, "o2")])
        assert second.screen([purchase(appspace, "o2")]).verdicts == [UNDECIDED]
        first.release(failing.claimed)  # its INSERT failed: the client gets a 503 and may retry anywhere
        assert second.screen([purchase(appspace, "o2")]).verdicts == [FRESH]
    finally:
        first.stop()
        second.stop()


def test_an_undecided_event_does_not_keep_the_keys_it_claimed(client: redis.Redis, store: Store, appspace: str) -> None:
    """o1's transaction key is held by a live writer's uncommitted group; its event_id key was free. Kept, that
    key would read as the event's own stored duplicate when it is asked again."""
    first = Deduplicator(client, store).start()
    second = Deduplicator(client, store).start()
    try:
        held = purchase(appspace, "o1")
        assert first.screen([StoredEvent(appspace, held.line, held.dedup_keys[:1], held.transaction)]).verdicts \
            == [FRESH]
        screening = second.screen([purchase(appspace, "o1")])
        assert (screening.verdicts, screening.claimed) == ([UNDECIDED], [])
        assert client.get(purchase(appspace, "o1").dedup_keys[1]) is None
        first.release([held.dedup_keys[0]])
        assert second.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    finally:
        first.stop()
        second.stop()


def test_the_next_holder_of_an_exclusive_slot_retires_the_previous_writer_at_once(
    client: redis.Redis, store: Store, appspace: str
) -> None:
    """The embedded engine's data directory: a restarted stack need not wait for the old heartbeat to expire."""
    slot = f"test:{appspace}"
    first = Deduplicator(client, store, exclusive_slot=slot).start()
    assert first.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    silenced(first)  # kill -9: its heartbeat key would live on for WRITER_TTL_SECONDS
    assert client.exists(f"dedup:writer:{first.writer}")

    second = Deduplicator(client, store, exclusive_slot=slot).start()
    assert not client.exists(f"dedup:writer:{first.writer}")
    assert second.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    second.stop()


def test_duplicates_inside_a_group_unknown_values_and_a_lost_race_for_an_orphaned_key(
    client: redis.Redis, store: Store, appspace: str
) -> None:
    first = Deduplicator(client, store).start()
    assert first.screen([purchase(appspace, "o1"), purchase(appspace, "o1")]).verdicts == [FRESH, DUPLICATE]
    killed(first, client)
    client.set(purchase(appspace, "o3").dedup_keys[0], b"1")  # not a claim: ClickHouse decides (o3 is not there)

    second = Deduplicator(client, store).start()
    third = Deduplicator(client, store).start()
    try:
        # o1, orphaned twice in the group: the first occurrence takes it over, the second is its duplicate.
        assert second.screen([purchase(appspace, "o1"), purchase(appspace, "o1"), purchase(appspace, "o3")]).verdicts \
            == [FRESH, DUPLICATE, FRESH]
        assert third.screen([purchase(appspace, "o1")]).verdicts == [UNDECIDED]  # second's, uncommitted
    finally:
        second.stop()
        third.stop()


def test_a_writer_whose_release_failed_re_screens_its_own_leftover_keys(
    client: redis.Redis, store: Store, appspace: str
) -> None:
    only = Deduplicator(client, store).start()
    try:
        failed = only.screen([purchase(appspace, "o1")])
        only._unreleased[only._group] = failed.claimed  # as if Redis had refused the release after a failed INSERT
        assert client.get(failed.claimed[0]) is not None
        assert only.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    finally:
        only.stop()


class UnreadableStore:
    """The store with its reads failing (ClickHouse down just when a stopped writer's keys are checked)."""

    def query(self, sql: str, params: object = None) -> list[dict[str, object]]:
        raise StoreUnavailable("Storage is down")


def test_a_failed_check_of_an_orphaned_key_releases_what_the_group_claimed(
    client: redis.Redis, store: Store, appspace: str
) -> None:
    first = Deduplicator(client, store).start()
    assert first.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    killed(first, client)
    second = Deduplicator(client, UnreadableStore()).start()  # type: ignore[arg-type]
    try:
        with pytest.raises(StoreUnavailable):
            second.screen([purchase(appspace, "o1"), purchase(appspace, "o5")])
        # o5's keys were claimed by the failed group: kept, they would read as stored after its next commit.
        assert [client.get(key) for key in purchase(appspace, "o5").dedup_keys] == [None, None]
        assert client.get(purchase(appspace, "o1").dedup_keys[0]) == f"{first.writer}:1".encode()
    finally:
        second.stop()


def test_keys_redis_refused_to_release_are_released_when_it_answers_again(
    store: Store, appspace: str, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url, socket_timeout=0.5)
    writer = Deduplicator(client, store).start()
    other = Deduplicator(client, store).start()
    try:
        failed = writer.screen([purchase(appspace, "o1")])
        server.stop()
        writer.release(failed.claimed)  # the group's INSERT failed, and now Redis is gone too
        assert writer._unreleased == {1: failed.claimed}
        server = RedisServer(server.workdir, port=server.port).start()  # its append-only file kept the claims
        assert client.get(failed.claimed[0]) == f"{writer.writer}:1".encode()
        assert writer.screen([purchase(appspace, "o2")]).verdicts == [FRESH]
        writer.committed()  # group 2: without the release, o1's keys (group 1) would now read as stored
        deadline = time.monotonic() + 5
        while writer._unreleased:
            assert time.monotonic() < deadline, "the heartbeat never released the keys"
            time.sleep(0.05)
        assert [client.get(key) for key in failed.claimed] == [None, None]
        assert other.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    finally:
        writer.stop()
        other.stop()
        server.stop()


def run_write(group_writer: GroupCommitWriter, events: list[StoredEvent]) -> BaseException | None:
    async def write() -> None:
        await group_writer.write_async(events)

    try:
        asyncio.run(write())
    except BaseException as exc:
        return exc
    return None


def test_a_request_waits_for_another_writers_group_and_is_answered_when_it_commits(
    client: redis.Redis, store: Store, appspace: str, tmp_path: Path
) -> None:
    other = Deduplicator(client, store).start()
    group_writer = GroupCommitWriter(store, Deduplicator(client, store), GroupJournal(tmp_path),
                                     commit_interval=0.01).start()
    try:
        assert other.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
        outcome: list[BaseException | None] = []
        request = threading.Thread(target=lambda: outcome.append(
            run_write(group_writer, [purchase(appspace, "o1"), purchase(appspace, "o2")])))
        request.start()
        deadline = time.monotonic() + 10
        while stored(store, appspace) != {eid("o2"): 1}:  # the fresh event does not wait
            assert time.monotonic() < deadline, stored(store, appspace)
            time.sleep(0.05)
        time.sleep(0.5)  # o1 asked again at least twice meanwhile
        assert request.is_alive(), "answered before the other writer's group was decided"
        write_events(store, [purchase(appspace, "o1").line], "t3")
        other.committed()
        request.join(timeout=5)
        assert outcome == [None]
        assert stored(store, appspace) == {eid("o1"): 1, eid("o2"): 1}
    finally:
        group_writer.stop()
        other.stop()


def test_a_request_waiting_too_long_on_a_live_writer_is_a_503_and_one_waiting_at_shutdown_too(
    client: redis.Redis, store: Store, appspace: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(writer, "UNDECIDED_LIMIT_SECONDS", 0.5)
    other = Deduplicator(client, store).start()
    group_writer = GroupCommitWriter(store, Deduplicator(client, store), GroupJournal(tmp_path),
                                     commit_interval=0.01).start()
    try:
        assert other.screen([purchase(appspace, "o1"), purchase(appspace, "o2")]).verdicts == [FRESH, FRESH]
        error = run_write(group_writer, [purchase(appspace, "o1")])
        assert isinstance(error, Unavailable)
        assert str(error) == "Some of these events are still being stored by another request; please retry"

        monkeypatch.setattr(writer, "UNDECIDED_LIMIT_SECONDS", 60)
        outcome: list[BaseException | None] = []
        request = threading.Thread(target=lambda: outcome.append(run_write(group_writer, [purchase(appspace, "o2")])))
        request.start()
        request.join(timeout=0.5)
        group_writer.stop()
        request.join(timeout=5)
        assert isinstance(outcome[0], Unavailable)
        assert str(outcome[0]) == writer.SHUTTING_DOWN
    finally:
        other.stop()
    assert stored(store, appspace) == {}


def test_a_writer_gone_quiet_is_taken_for_dead_after_its_ttl(
    client: redis.Redis, store: Store, appspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedup, "WRITER_TTL_SECONDS", 1)
    first = Deduplicator(client, store).start()
    assert first.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    silenced(first)  # nobody retires it
    second = Deduplicator(client, store).start()
    try:
        assert second.screen([purchase(appspace, "o1")]).verdicts == [UNDECIDED]
        time.sleep(1.2)
        assert second.screen([purchase(appspace, "o1")]).verdicts == [FRESH]
    finally:
        second.stop()


def test_a_group_after_a_large_one_gathers_for_the_loaded_interval_or_rows_and_one_after_a_small_one_does_not(
    client: redis.Redis, store: Store, appspace: str, tmp_path: Path
) -> None:
    """Requests queueing (the group before held LOADED_AFTER_ROWS) make the next INSERT wait for a larger group:
    until the loaded interval, or until it holds the loaded group's rows; a lone sender's requests keep the short
    interval."""
    group_writer = GroupCommitWriter(store, Deduplicator(client, store), GroupJournal(tmp_path),
                                     commit_interval=0.01, loaded_commit_interval=3.0, loaded_group_rows=50).start()

    def acknowledged_after(events: list[StoredEvent]) -> float:
        handed = time.monotonic()
        assert run_write(group_writer, events) is None
        return time.monotonic() - handed

    try:
        started = time.monotonic()
        acknowledged_after([purchase(appspace, f"b{n}") for n in range(writer.LOADED_AFTER_ROWS)])
        acknowledged_after([purchase(appspace, "s1")])
        after_large = time.monotonic() - started
        after_small = acknowledged_after([purchase(appspace, "s2")])
        acknowledged_after([purchase(appspace, f"c{n}") for n in range(writer.LOADED_AFTER_ROWS)])
        holding_enough = acknowledged_after([purchase(appspace, f"e{n}") for n in range(50)])
        assert after_large >= 3.0, after_large  # not before the loaded interval from the large group's commit
        assert after_small < 2.5, after_small
        assert holding_enough < 2.5, holding_enough
        assert len(stored(store, appspace)) == 2 * writer.LOADED_AFTER_ROWS + 52
    finally:
        group_writer.stop()


def test_groups_a_killed_writer_left_in_its_journal_are_written_again_at_start_once_and_whole(
    client: redis.Redis, store: Store, appspace: str, tmp_path: Path
) -> None:
    """A writer claimed two groups' keys and was killed: after the first group's INSERT but before removing its
    note, and before the second's INSERT began. The next writer writes both notes again before it takes a request
    (tests/integration/test_group_rewrite.py: whatever each table held): each table kept per event holds every
    event once; the clients' retries are then duplicates."""
    journal = GroupJournal(tmp_path / "journal")
    events = [purchase(appspace, order) for order in ("j1", "j2", "j3")]
    dead = Deduplicator(client, store).start()
    assert dead.screen(events).verdicts == [FRESH] * 3
    token = uuid.uuid4().hex
    journal.begin(token, [event.line for event in events[:2]])
    write_events(store, [event.line for event in events[:2]], token)
    journal.begin(uuid.uuid4().hex, [events[2].line])
    killed(dead, client)
    group_writer = GroupCommitWriter(store, Deduplicator(client, store), journal, commit_interval=0.01).start()
    try:
        assert list(journal.left()) == []
        assert stored(store, appspace) == {eid("j1"): 1, eid("j2"): 1, eid("j3"): 1}
        per_table = {table: store.scalar(f"SELECT count() FROM {table} WHERE appspace_id = {{a:String}}",
                                         {"a": appspace}) for table in ("funnel_steps", "cart_activity")}
        assert per_table == {"funnel_steps": 3, "cart_activity": 3}
        assert run_write(group_writer, events) is None  # the retries
        assert stored(store, appspace) == {eid("j1"): 1, eid("j2"): 1, eid("j3"): 1}
    finally:
        group_writer.stop()
