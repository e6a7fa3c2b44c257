"""Each actor's funnel reach, kept in funnel_reach (migration 0019) by a background worker, so that the funnel of
a long range counts actors instead of reading every step event of the range.

The funnel (queries/funnel.py) is ClickHouse's windowFunnel: it orders an actor's step events by (moment, step)
and, in its default mode, reaches level k exactly when some events e1, ..., ek of steps 1..k follow each other in
that order with moment(ek) <= moment(e1) + WINDOW (each step-1 event starts a chain; a step-k event extends the
chain of the latest start that has reached step k - 1; a later start is never worse). So an actor reaches level k
in a range [since, until) that no event of the actor passes beyond exactly when its latest start of a k-step chain,
over all its events, is at or after since: the chain then lies in the range, and a chain in the range starts
there. Those latest starts, six numbers per actor (and six more over its unflagged events only), answer the
funnel of every range that ends after the actor's last event; every range ending today does.

They are windowFunnel's own state after the actor's last event (for each level, the start of the chain that
reached it last; starts only grow), which the worker computes with the same pass over the sorted events in
ClickHouse (arrayFold). New events can only add chains: rows are merged with max(), and a round recomputes an
actor's starts from its events since its first new event's moment minus WINDOW (a chain holding a new event
starts no earlier) and inserts them. Which actors have new events: funnel_dirty, filled by a view at ingest with
each group's actors and the earliest moment of their events. A round takes the actors marked more than MARGIN
ago, as the last-touch worker does (last_touches.py explains why), and moves funnel_progress's mark; queries count
actors marked after the mark from their raw events (queries/funnel.py). The first round fills every actor from
funnel_steps; until it has written the first mark, queries read raw events only.

Beside the reach, each actor's last event of any type (migration 0024): the marks cover every event with an actor
and carry the group's last moments, which a round adds as they are (max() again), so the actors active in a range
ending today are counted from a row per actor (queries/channels.py).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from carthouse.store import Store
from services.analytics.background import MARKED_ROUND_SECONDS, MarkedRounds, drop_finished_days, store_time
from services.analytics.queries.funnel import DONE_UNTIL, STEPS, WINDOW
from services.analytics.queries.scope import MOMENT

log = logging.getLogger("carthouse.analytics.funnel_reach")

LEVELS = len(STEPS)
MARGIN = timedelta(seconds=10)
# Actors are filled in this many slices by their key: each slice's events are read and reduced in one pass.
FILL_SLICES = 16

STARTED = "SELECT count() FROM funnel_progress"
REACH_COLUMNS = [f"reach_{k}" for k in range(1, LEVELS + 1)] + [f"clean_reach_{k}" for k in range(1, LEVELS + 1)]

# The actors of marks in (mark, until]: their earliest new moment.
ROUND_ACTORS = f"""
SELECT appspace_id, actor_key, min(first_moment) AS first_moment FROM funnel_dirty
WHERE inserted_at > {DONE_UNTIL} AND inserted_at <= {{until:DateTime64(3, 'UTC')}}
GROUP BY appspace_id, actor_key
"""

# An actor's step events as (moment, step, flagged), in windowFunnel's order.
_EVENTS = f"arraySort(groupArray(({MOMENT}, indexOf({list(STEPS)}, event_type), fraud_severity > 0)))"


def _fold(events: str) -> str:
    """windowFunnel's own pass over ``events``, keeping its state: for each level, the start of the latest chain
    that reached it (0: none). A step-1 event starts a chain; a step-k event extends the chain that reached step
    k - 1 if it is within WINDOW of that chain's start. The state after the last event is the reach."""
    extended = "arrayConcat(arraySlice(state, 1, e.2 - 1), [state[e.2 - 1]], arraySlice(state, e.2 + 1))"
    return (f"arrayFold((state, e) -> if(e.2 = 1, arrayPushFront(arrayPopFront(state), e.1), "
            f"if(state[e.2 - 1] > 0 AND e.1 <= state[e.2 - 1] + {WINDOW}, {extended}, state)), {events}, "
            f"CAST({[0] * LEVELS} AS Array(UInt64)))")


# Beside the reach, the actor's last add to cart (migration 0023), for the overview's carting actors.
_REACH_INSERT = f"""
INSERT INTO funnel_reach (appspace_id, actor_key, user_id, {", ".join(REACH_COLUMNS)}, last_cart, clean_last_cart)
SELECT appspace_id, actor_key, user_id, {", ".join(f"every[{k}]" for k in range(1, LEVELS + 1))},
       {", ".join(f"clean[{k}]" for k in range(1, LEVELS + 1))}, last_cart, clean_last_cart
FROM (
    SELECT appspace_id, actor_key, any(user_id) AS user_id, {_EVENTS} AS events,
           {_fold("events")} AS every, {_fold("arrayFilter(e -> NOT e.3, events)")} AS clean,
           maxIf({MOMENT}, event_type = 'add_to_cart') AS last_cart,
           maxIf({MOMENT}, event_type = 'add_to_cart' AND fraud_severity = 0) AS clean_last_cart
    FROM {{source}}
    GROUP BY appspace_id, actor_key
)
"""
# Every actor of one slice of their keys.
FILL_SLICE = _REACH_INSERT.replace("{source}", "funnel_steps WHERE actor_key % {slices:UInt64} = {slice:UInt64}")
# A round's actors, from their first new moment minus WINDOW on (the earliest of them bounds the read by the
# table's time key): a chain holding a new event starts no earlier.
ROUND = _REACH_INSERT.replace("{source}", f"""(
        SELECT steps.appspace_id AS appspace_id, steps.actor_key AS actor_key, user_id, event_time, seq,
               event_type, fraud_severity
        FROM funnel_steps AS steps
        INNER JOIN ({ROUND_ACTORS}) AS marked
            ON steps.appspace_id = marked.appspace_id AND steps.actor_key = marked.actor_key
        WHERE event_time >= fromUnixTimestamp64Milli(toInt64(intDiv({{first:UInt64}} - {WINDOW}, 256)), 'UTC')
          AND {MOMENT} >= marked.first_moment - {WINDOW}
    )""")


# Beside the reach, each actor's last event of any type (migration 0024), for the actors active in a range: from
# the marks, which carry each group's last moments, so a round reads no events for it.
ROUND_ACTIVITY = f"""
INSERT INTO funnel_reach (appspace_id, actor_key, user_id, last_active, clean_last_active)
SELECT appspace_id, actor_key, any(user_id), max(last_moment), max(clean_last_moment) FROM funnel_dirty
WHERE inserted_at > {DONE_UNTIL} AND inserted_at <= {{until:DateTime64(3, 'UTC')}}
GROUP BY appspace_id, actor_key
"""
FILL_ACTIVITY_SLICE = f"""
INSERT INTO funnel_reach (appspace_id, actor_key, user_id, last_active, clean_last_active)
SELECT appspace_id, actor_key, any(user_id), max({MOMENT}), maxIf({MOMENT}, fraud_severity = 0) FROM events
WHERE actor_key != cityHash64('') AND actor_key % {{slices:UInt64}} = {{slice:UInt64}}
GROUP BY appspace_id, actor_key
"""


def fill(store: Store) -> None:
    """Every actor's reach from all of funnel_steps and its last event from events, a slice of the actors at a
    time (each slice's events are held at once)."""
    for part in range(FILL_SLICES):
        store.execute(FILL_SLICE, {"slices": FILL_SLICES, "slice": part})
        store.execute(FILL_ACTIVITY_SLICE, {"slices": FILL_SLICES, "slice": part})


def store_round(store: Store, margin: timedelta = MARGIN) -> int:
    """Bring funnel_reach up to the actors marked up to ``margin`` ago (every actor on the first round); answers
    how many actors the round took (0 for the first)."""
    until = store_time(store) - margin
    actors = 0
    if not int(store.scalar(STARTED)):
        fill(store)
    else:
        marked = store.query(f"SELECT count() AS actors, min(first_moment) AS first FROM ({ROUND_ACTORS})",
                             {"until": until})[0]
        actors = int(marked["actors"])
        if actors:
            store.execute(ROUND, {"until": until, "first": int(marked["first"])})
            store.execute(ROUND_ACTIVITY, {"until": until})
    store.execute("INSERT INTO funnel_progress VALUES ({until:DateTime64(3, 'UTC')})", {"until": until})
    drop_finished_days(store, "funnel_dirty", DONE_UNTIL)
    return actors


class FunnelReachWorker(MarkedRounds):
    def __init__(self, store: Store, rewrites: threading.Lock, poll_seconds: float = MARKED_ROUND_SECONDS,
                 margin: timedelta = MARGIN) -> None:
        super().__init__("funnel-reach", store_round, store, rewrites, poll_seconds, margin, log,
                         "stored the funnel reach of %d actors")
