"""GDPR user deletion: a durable request (deletion_requests), processed in the background by mutations that
physically remove the user's rows from events, event_items, event_properties, touches, cart_activity,
actor_hours, funnel_steps, funnel_reach, funnel_dirty, purchase_channels, attribution_dirty, cart_states,
cart_dirty and fraud_events, plus the user's Redis keys; the carts the user's rows touch are judged
again without them first (cart_states.py).
Queries hide a user as soon as the request is recorded (queries/scope.py PENDING_USERS in every scope).

A request survives restarts (it is a row, not a task in memory), and processing is idempotent: re-running the
mutations for a user whose rows are already gone changes nothing. One thread per AnalyticsService process
polls for pending requests; with several replicas each may process the same request, which is harmless.

A request is done only when a count of every table after the mutations finds none of the user's rows: events of
the user that arrive while the mutations run (a mutation rewrites the parts that existed when it started) are
removed by another pass. The last-touch worker, which rewrites purchases' rows of purchase_channels, and the
cart-state worker are kept out of the way: in one process none of them runs while another does (``rewrites``, a
lock they hold), and a last-touch round that starts after the request was recorded leaves the user out
(last_touches.ROUND_USERS).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

import redis

from carthouse.clock import utc_now
from carthouse.store import Store
from services.analytics import cart_states
from services.analytics.background import Rounds

log = logging.getLogger("carthouse.analytics.deletions")

PENDING, DONE = "pending", "done"
TABLES = ("events", "event_items", "event_properties", "fraud_events", "touches", "cart_activity", "actor_hours",
          "funnel_steps", "funnel_reach", "funnel_dirty", "purchase_channels", "attribution_dirty", "cart_states",
          "cart_dirty")
POLL_SECONDS = 2.0
# Passes of mutations before a request is left pending for the next round (the user's events keep arriving).
MAX_PASSES = 5
# How a table's rows are counted in rows_removed: purchase_channels holds a purchase in one row per writer (the
# ingest view, the last-touch worker) until merges fold them, and counts purchases; funnel_reach holds an actor
# in a row per round that saw it until merges fold them, and counts actors; cart_states holds a cart in a row per
# judgement until merges fold them, and counts carts.
ROWS = {"purchase_channels": "uniqExact(event_id)", "funnel_reach": "uniqExact(actor_key)",
        "cart_states": "uniqExact(cart_key)"}

RECORD = """
INSERT INTO deletion_requests (appspace_id, user_id, requested_at, status, completed_at, rows_before, updated_at)
VALUES ({appspace:String}, {user:String}, {now:DateTime64(3, 'UTC')}, 'pending', NULL, 0, {now:DateTime64(3, 'UTC')})
"""

LIST = """
SELECT appspace_id, user_id, toString(requested_at) AS requested_at, status,
       toString(completed_at) AS completed_at, rows_before
FROM deletion_requests FINAL
WHERE ({appspace:String} = '' OR appspace_id = {appspace:String})
ORDER BY requested_at DESC
LIMIT 1000
"""

PENDING_REQUESTS = """
SELECT appspace_id, user_id, requested_at FROM deletion_requests FINAL WHERE status = 'pending'
ORDER BY requested_at
"""



def record(store: Store, appspace_id: str, user_id: str, now: datetime) -> None:
    store.execute(RECORD, {"appspace": appspace_id, "user": user_id, "now": now})


def list_requests(store: Store, appspace_id: str = "") -> list[dict[str, Any]]:
    return store.query(LIST, {"appspace": appspace_id})


_OF_USER = "appspace_id = {appspace:String} AND user_id = {user:String}"


def count_rows(store: Store, appspace_id: str, user_id: str) -> int:
    """The user's rows in every table of TABLES."""
    params = {"appspace": appspace_id, "user": user_id}
    return sum(int(store.scalar(f"SELECT {ROWS.get(table, 'count()')} FROM {table} WHERE {_OF_USER}", params))
               for table in TABLES)


def delete_user(
    store: Store, redis_client: redis.Redis | None, appspace_id: str, user_id: str
) -> tuple[int, bool]:
    """Remove every row of the user in the appspace (waiting for the mutations, pass after pass while rows that
    arrived meanwhile are found), and its Redis keys; answers how many rows there were, and whether none is left."""
    params = {"appspace": appspace_id, "user": user_id}
    before = count_rows(store, appspace_id, user_id)
    left = before
    for _ in range(MAX_PASSES):
        # The user's carts are judged again without the user's rows first: once these are gone, nothing says
        # which carts held them.
        cart_states.judge_without_user(store, appspace_id, user_id)
        for table in TABLES:
            # A mutation rewrites the affected parts without the rows: the data leaves the disk, not just the view.
            store.execute(f"ALTER TABLE {store.altered(table)} DELETE WHERE {_OF_USER} SETTINGS mutations_sync = 2",
                          params)
        left = count_rows(store, appspace_id, user_id)
        if not left:
            break
        before += left
    if redis_client is not None:
        try:
            redis_client.delete(f"velocity:user:{appspace_id}:{user_id}")
        except redis.RedisError as exc:
            log.warning("could not remove Redis keys of a deleted user (they expire in 2 days): %s", exc)
    return before, not left


def mark_done(store: Store, request: dict[str, Any], rows_before: int, now: datetime) -> None:
    store.execute(
        "INSERT INTO deletion_requests (appspace_id, user_id, requested_at, status, completed_at, rows_before,"
        " updated_at) VALUES ({appspace:String}, {user:String}, {requested:DateTime64(3, 'UTC')}, 'done',"
        " {now:DateTime64(3, 'UTC')}, {rows:UInt64}, {now:DateTime64(3, 'UTC')})",
        {"appspace": request["appspace_id"], "user": request["user_id"], "requested": request["requested_at"],
         "now": now, "rows": rows_before},
    )


class DeletionWorker(Rounds):
    """Processes pending deletion requests until stopped; ``rewrites`` is held while a request is processed (the
    last-touch worker holds it for its rounds)."""

    def __init__(self, store: Store, redis_client: redis.Redis | None, rewrites: threading.Lock,
                 poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__("deletions", self.run_once, poll_seconds, log)
        self._store = store
        self._redis = redis_client
        self._rewrites = rewrites

    def run_once(self) -> int:
        """Process every pending request; answers how many were completed."""
        done = 0
        for request in self._store.query(PENDING_REQUESTS):
            if self.stopping:
                break
            appspace_id, user_id = request["appspace_id"], request["user_id"]
            with self._rewrites:
                rows, emptied = delete_user(self._store, self._redis, appspace_id, user_id)
            if not emptied:
                log.warning("user %s of %s: rows kept arriving through %d passes; the request stays pending",
                            user_id, appspace_id, MAX_PASSES)
                continue
            # A newer request for the same user (recorded meanwhile) keeps it pending: only this one is done.
            latest = self._store.scalar(
                "SELECT toString(max(requested_at)) FROM deletion_requests WHERE appspace_id = {a:String}"
                " AND user_id = {u:String}", {"a": appspace_id, "u": user_id})
            if latest == request["requested_at"]:
                mark_done(self._store, request, rows, utc_now())
            log.info("deleted user %s of %s: %d rows removed", user_id, appspace_id, rows)
            done += 1
        return done
