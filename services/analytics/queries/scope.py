"""What every analytics query shares: one appspace, a time range on the primary key, flagged events in or out,
and users whose deletion is pending left out.

Every statement's WHERE starts with SCOPE (appspace_id and event_time lead the tables' sort keys, so a query
reads only that appspace's parts of the range), and binds the parameters of ``scope_params``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from carthouse.store import Store

# Users of the appspace whose deletion is recorded but not finished: every query leaves them out. They are read
# once per request (pending_users, bound as the `pending` parameter by scope_params), so a request hides the
# user from the next query on. With none pending the condition is a constant and no query reads user_id for it;
# subqueries on deletion_requests inside the statements cost ~2.5 ms wherever a statement names them (~10 ms of
# the channel statement on 10 M events, docs/PERFORMANCE.md).
PENDING_USERS = "(empty({pending:Array(String)}) OR user_id NOT IN {pending:Array(String)})"

PENDING_OF_APPSPACE = """
SELECT user_id FROM deletion_requests FINAL WHERE appspace_id = {appspace:String} AND status = 'pending'
"""

# Who did it: user_id, else anonymous_id, else cart_id (DESIGN.md, "Query definitions"), as a 64-bit hash: a
# column of events computed when rows are written (migrations 0004, 0010). Distinct actors are counted and
# grouped by it: hash tables of integers are about twice as fast as of strings, and reading 8 bytes is cheaper
# than reading and hashing the string. Among a million actors the chance of any collision is ~3e-8.
ACTOR_KEY = "actor_key"
# The event has an actor (an empty one hashes to cityHash64('')).
HAS_ACTOR = "actor_key != cityHash64('')"
# Joins are written with the smaller side on the right, where it becomes the hash table. ClickHouse's planner
# (25.x and later; chdb 4.4 is 26.9) may swap the sides by its own estimate; on these queries that measured
# slower (10 M events: revenue-by-channel 20 % and attribution 7-30 % faster, cart abandonment 5 %, with the
# written order kept).
JOINS_AS_WRITTEN = "query_plan_join_swap_table = 'false'"
# ClickHouse moves every WHERE condition into PREWHERE by default. With a condition `x IN (SELECT ...)` among
# them, planning alone took ~10 ms more here (26.9; EXPLAIN of a purchases-IN-purchases probe 16 -> 7 ms), more
# than PREWHERE saves on these reads of cached column blocks. Statements with such a subquery turn the move off
# (10 M events, process CPU in alternating runs: revenue-by-channel's statement -12 %, attribution -2 to -7 %,
# cohorts -5 %).
IN_SUBQUERY_NOT_IN_PREWHERE = "optimize_move_to_prewhere = 0"
# An event's moment as one integer: epoch milliseconds x 256 + its index in its request (seq), so that events of
# equal time keep the order the client sent them in (docs/METRICS.md). Integers compare and aggregate several
# times faster than (time, seq) tuples.
MOMENT = "(toUInt64(toUnixTimestamp64Milli(event_time)) * 256 + seq)"
# The first moment of the range: an event is at or after the range's start exactly when its moment is at or after
# this one (seq < 256).
SINCE_MOMENT = "toUInt64(toUnixTimestamp64Milli({since:DateTime64(3, 'UTC')})) * 256"
SCOPE = f"""appspace_id = {{appspace:String}}
  AND event_time >= {{since:DateTime64(3, 'UTC')}} AND event_time < {{until:DateTime64(3, 'UTC')}}
  AND (fraud_severity = 0 OR {{include_flagged:UInt8}} = 1)
  AND {PENDING_USERS}"""


def in_whole_hours(params: dict[str, Any]) -> bool:
    """The range's bounds are whole UTC hours: every range in a time zone whose offset is whole hours, so the
    tables kept per hour (actor_hours) answer it; a range in Asia/Kolkata starts at :30 and reads events."""
    return all(params[bound] == params[bound].replace(minute=0, second=0, microsecond=0)
               for bound in ("since", "until"))


def pending_users(store: Store, appspace_id: str) -> list[str]:
    return [row["user_id"] for row in store.query(PENDING_OF_APPSPACE, {"appspace": appspace_id})]


def scope_params(
    store: Store, appspace_id: str, since: datetime, until: datetime, include_flagged: bool
) -> dict[str, Any]:
    """The parameters SCOPE binds, with the users whose deletion is pending read now."""
    return {"appspace": appspace_id, "since": since, "until": until, "include_flagged": include_flagged,
            "pending": pending_users(store, appspace_id)}


# A refund of an order that is left out (its purchase flagged, and flagged events not included) is left out with
# it: the order's revenue never counted, so its refund must not be subtracted. Flagged purchases are read from the
# fraud audit (every flagged event has a row there; a small table), whenever they happened.
FLAGGED_ORDERS = """(SELECT transaction_id FROM fraud_events
     WHERE appspace_id = {appspace:String} AND event_type = 'purchase' AND severity = 1)"""
REFUND_OF_EXCLUDED = f"(event_type = 'refund' AND {{include_flagged:UInt8}} = 0 AND transaction_id IN {FLAGGED_ORDERS})"
