"""Group commit: concurrent requests hand their rows to one writer thread, which deduplicates and
inserts everything pending in one statement, then releases the requests. A request is answered only
after its rows are in ClickHouse, so an acknowledged event is never lost, and a 100-row request costs
a fraction of an INSERT instead of a whole one. An event whose dedup key another live writer holds for a
group not yet committed waits (the request with it) and is asked again with a later group."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from carthouse.errors import STORE_UNAVAILABLE, Unavailable
from carthouse.store import Store
from services.ingest.dedup import Deduplicator, Verdict
from services.ingest.journal import GroupJournal
from services.ingest.rows import StoredEvent
from services.ingest.storage import rewrite_events, write_events

log = logging.getLogger("carthouse.ingest.writer")

MAX_GROUP_ROWS = 20_000
# Under load, at most one INSERT per interval: ClickHouse wants few large inserts (each one makes a part in
# every table the views fill, which background merges must rewrite). An idle writer commits at once.
COMMIT_INTERVAL_SECONDS = 0.1
# An INSERT's cost is mostly fixed: 2,500 rows cost half of what 10,000 do. When the group before held
# LOADED_AFTER_ROWS or more (requests are queueing), the next one gathers for up to
# LOADED_COMMIT_INTERVAL_SECONDS, and is written as soon as it holds LOADED_GROUP_ROWS: REST ingest at full load
# +17 % against a 0.4 s interval alone, itself +14 % against 0.1 s (docs/PERFORMANCE.md). A lone sender's
# requests (a group each) keep the short interval.
LOADED_AFTER_ROWS = 1_000
LOADED_COMMIT_INTERVAL_SECONDS = 0.4
LOADED_GROUP_ROWS = 4_000
SHUTTING_DOWN = "Ingest is shutting down; nothing was stored, please retry"
# Events of the request other than the waiting ones may be stored already; a retry is safe (they are duplicates).
STILL_BEING_STORED = "Some of these events are still being stored by another request; please retry"
# Pauses between attempts at one group's INSERT (same deduplication token) before answering 503.
WRITE_RETRY_DELAYS = (0.2, 1.0)
# An undecided event is asked again this often, for at most this long (its holder commits within a group's
# time, or is found gone within dedup.WRITER_TTL_SECONDS); then its request is answered 503 and retried.
ASK_AGAIN_SECONDS = 0.2
UNDECIDED_LIMIT_SECONDS = 15.0


@dataclass
class _Pending:
    events: Sequence[StoredEvent]
    # Events of the same requests blocked by fraud rules: not deduplicated (a blocked order does not claim its
    # transaction id), written in the same INSERT, stored only in the fraud audit.
    blocked: Sequence[StoredEvent]
    # Called from the writer thread with None (stored) or the error that stopped the write.
    notify: Callable[[BaseException | None], None]
    # For events waiting on another writer's group: when they first waited, when to ask again.
    waiting_since: float = 0.0
    ask_at: float = 0.0


_STOP = _Pending(events=(), blocked=(), notify=lambda error: None)


class GroupCommitWriter:
    def __init__(
        self,
        store: Store,
        deduplicator: Deduplicator,
        journal: GroupJournal,
        max_group_rows: int = MAX_GROUP_ROWS,
        commit_interval: float = COMMIT_INTERVAL_SECONDS,
        loaded_commit_interval: float = LOADED_COMMIT_INTERVAL_SECONDS,
        loaded_group_rows: int = LOADED_GROUP_ROWS,
    ) -> None:
        self._store = store
        self._dedup = deduplicator
        self._journal = journal
        self._max_group_rows = max_group_rows
        self._commit_interval = commit_interval
        self._loaded_commit_interval = max(commit_interval, loaded_commit_interval)
        self._loaded_group_rows = min(max_group_rows, loaded_group_rows)
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._accepting = True
        self._waiting: list[_Pending] = []
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self.groups_committed = 0
        self.rows_written = 0

    def start(self) -> GroupCommitWriter:
        """Before the first request: the groups a killed writer left half-written are made whole (journal.py)."""
        self._dedup.start()
        self._journal.repeat_left(lambda lines: rewrite_events(self._store, lines))
        self._thread.start()
        return self

    def stop(self) -> None:
        """Write everything already handed over, then stop; later writes are refused."""
        self._accepting = False
        self._queue.put(_STOP)
        self._thread.join()
        self._dedup.stop()

    async def write_async(self, events: Sequence[StoredEvent], blocked: Sequence[StoredEvent] = ()) -> None:
        """Await until the events are deduplicated and durably inserted, with the blocked ones (without blocking
        the event loop); raise if they were not."""
        if not events and not blocked:
            return
        self._check_accepting()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        self._queue.put(_Pending(events, blocked, lambda error: loop.call_soon_threadsafe(settle, error)))
        await future

    def _check_accepting(self) -> None:
        if not self._accepting:
            raise Unavailable(SHUTTING_DOWN)

    def _run(self) -> None:
        stopping = False
        last_commit = 0.0
        loaded = False
        while not stopping:
            group = self._first_of_group()
            rows = sum(len(pending.events) for pending in group)
            not_before = last_commit + (self._loaded_commit_interval if loaded else self._commit_interval)
            enough = self._loaded_group_rows if loaded else self._max_group_rows
            while rows < enough and group[-1] is not _STOP:
                try:
                    nxt = self._queue.get(timeout=max(0.0, not_before - time.monotonic()))
                except queue.Empty:
                    break
                group.append(nxt)
                rows += len(nxt.events)
            stopping = any(p is _STOP for p in group)
            last_commit = time.monotonic()
            self._commit([p for p in group if p is not _STOP])
            loaded = rows >= LOADED_AFTER_ROWS
        for pending in self._waiting:
            pending.notify(Unavailable(SHUTTING_DOWN))
        log.info("writer stopped after %d groups, %d rows", self.groups_committed, self.rows_written)

    def _first_of_group(self) -> list[_Pending]:
        """The waiting requests due to be asked again, else the next request handed over."""
        while True:
            now = time.monotonic()
            due = [pending for pending in self._waiting if pending.ask_at <= now]
            if due:
                self._waiting = [pending for pending in self._waiting if pending.ask_at > now]
                return due
            timeout = min((pending.ask_at for pending in self._waiting), default=now) - now
            try:
                return [self._queue.get(timeout=timeout if self._waiting else None)]
            except queue.Empty:
                continue

    def _commit(self, group: list[_Pending]) -> None:
        if not group:
            return
        events = [event for pending in group for event in pending.events]
        blocked = [event for pending in group for event in pending.blocked]
        claimed: list[str] = []
        verdicts = [Verdict.FRESH] * len(events)
        error: BaseException | None = None
        try:
            screening = self._dedup.screen(events)
            verdicts, claimed = screening.verdicts, screening.claimed
            lines = [event.line for event, verdict in zip(events, verdicts, strict=True) if verdict is Verdict.FRESH]
            lines += [event.line for event in blocked]
            if lines:
                self._write_with_retries(lines)
            if claimed:
                self._dedup.committed()
            self.groups_committed += 1
            self.rows_written += verdicts.count(Verdict.FRESH)
        except BaseException as exc:  # every waiting request must learn of the failure
            self._dedup.release(claimed)
            log.error("write of %d events failed after %d attempts; answering 503: %s",
                      len(events), len(WRITE_RETRY_DELAYS) + 1, exc)
            error = Unavailable(STORE_UNAVAILABLE) if isinstance(exc, Exception) else exc
        start = 0
        for pending in group:
            mine = verdicts[start:start + len(pending.events)]
            start += len(pending.events)
            undecided = [event for event, verdict in zip(pending.events, mine, strict=True)
                         if verdict is Verdict.UNDECIDED]
            if error is None and undecided:
                self._ask_again(pending, undecided)
            else:
                pending.notify(error)

    def _ask_again(self, pending: _Pending, undecided: list[StoredEvent]) -> None:
        now = time.monotonic()
        since = pending.waiting_since or now
        if now - since > UNDECIDED_LIMIT_SECONDS:
            log.warning("%d events waited %.0f s on another writer's uncommitted group; answering 503",
                        len(undecided), now - since)
            pending.notify(Unavailable(STILL_BEING_STORED))
            return
        self._waiting.append(replace(pending, events=undecided, blocked=(), waiting_since=since,
                                     ask_at=now + ASK_AGAIN_SECONDS))

    def _write_with_retries(self, lines: Sequence[bytes]) -> None:
        """Write the group, repeating a failed attempt with the same deduplication token: what an earlier
        attempt did write (some of the materialized views' tables) is skipped, so a transient failure heals
        without a half-written or doubled group."""
        token = uuid.uuid4().hex
        self._journal.begin(token, lines)  # until the attempts are over: a kill in between is mended at start
        try:
            for attempt, delay in enumerate((*WRITE_RETRY_DELAYS, None)):
                try:
                    write_events(self._store, lines, token)
                    return
                except Exception as exc:
                    if delay is None:
                        raise
                    log.warning("write of %d events failed (attempt %d), retrying in %.1f s: %s",
                                len(lines), attempt + 1, delay, exc)
                    time.sleep(delay)
        finally:
            self._journal.end(token)
