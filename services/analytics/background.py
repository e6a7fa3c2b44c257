"""Rounds in a background thread: the analytics service's workers (deletions, last touches, funnel reach, cart
states) each run a round every few seconds until stopped. A failed round is logged; the next one retries, as each
round starts from what the store says is left to do. The workers that store what ingest marked (last touches,
funnel reach, cart states) share their interval, their clock, the dropping of marks they are done with, and the
lock they hold with deletions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Self

from carthouse.store import Store

# How often the workers that store what ingest marked (last touches, funnel reach, cart states) run a round. A
# round's cost is mostly per round rather than per mark (the reach re-reads each marked actor's last 7 days of
# steps; last touches and carts join their marks to windows of rows), so fewer, larger rounds cost ingest less:
# REST ingest at full load, 80 s runs alternating, 9,514 and 9,942 events/s with 5 s rounds against 11,940 and
# 10,951 with 30 s (docs/PERFORMANCE.md). Answers do not depend on it: queries read what a worker has not
# reached yet from the raw events.
MARKED_ROUND_SECONDS = 30.0

# Days of marks wholly before the day before the last round's end (``done_until``): nothing reads them again.
FINISHED_DAYS = """
SELECT DISTINCT partition FROM {parts}
WHERE database = {{db:String}} AND table = {{table:String}} AND active
  AND toUInt32(partition) < toYYYYMMDD({done_until} - INTERVAL 1 DAY)
"""


def store_time(store: Store) -> datetime:
    """The store's clock, which stamps the marks (a ClickHouse server's clock may differ from this host's)."""
    return datetime.fromisoformat(str(store.scalar("SELECT toString(now64(3, 'UTC'))"))).replace(tzinfo=UTC)


def drop_finished_days(store: Store, table: str, done_until: str) -> None:
    """Drop the day partitions of ``table`` (marks) that the round ending at ``done_until`` (SQL) left behind; in
    cluster form the days are the local tables' partitions, on every node."""
    parts = f"clusterAllReplicas('{store.cluster}', system.parts)" if store.cluster else "system.parts"
    local = f"{table}_local" if store.cluster else table
    sql = FINISHED_DAYS.format(parts=parts, done_until=done_until)
    for day in store.query(sql, {"db": store.database, "table": local}):
        store.execute(f"ALTER TABLE {store.altered(table)} DROP PARTITION {int(day['partition'])}")


class Rounds:
    """Calls ``run_round`` every ``poll_seconds`` in a daemon thread named ``name``; ``wake`` starts the next round
    at once."""

    def __init__(self, name: str, run_round: Callable[[], object], poll_seconds: float, log: logging.Logger) -> None:
        self._run_round = run_round
        self._poll = poll_seconds
        self._log = log
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> Self:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_round()
            except Exception:  # what the round left undone is still recorded in the store
                self._log.exception("%s round failed; retrying", self._thread.name)
            self._wake.wait(self._poll)
            self._wake.clear()


class MarkedRounds(Rounds):
    """Runs ``store_round(store, margin)`` every ``poll_seconds`` until stopped, holding ``rewrites`` (deletions
    hold it too, so that a round never writes rows of a user whose rows are being removed); logs ``stored`` with
    the count a round answers, when not 0."""

    def __init__(self, name: str, store_round: Callable[[Store, timedelta], int], store: Store,
                 rewrites: threading.Lock, poll_seconds: float, margin: timedelta, log: logging.Logger,
                 stored: str) -> None:
        super().__init__(name, self.run_once, poll_seconds, log)
        self._store_round = store_round
        self._store = store
        self._rewrites = rewrites
        self._margin = margin
        self._stored = stored

    def run_once(self) -> None:
        with self._rewrites:
            count = self._store_round(self._store, self._margin)
        if count:
            self._log.info(self._stored, count)
