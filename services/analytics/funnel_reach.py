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

New events can only add chains, so the latest starts only grow: rows are merged with max(), and a round recomputes
an actor's starts from its events since its first new event's moment minus WINDOW (a chain holding a new event
starts no earlier) and inserts them. Which actors have new events: funnel_dirty, filled by a view at ingest with
each group's actors and the earliest moment of their events. A round takes the actors marked more than MARGIN
ago, as the last-touch worker does (last_touches.py explains why), and moves funnel_progress's mark; queries count
actors marked after the mark from their raw events (queries/funnel.py). The first round fills every actor from
funnel_steps; until it has written the first mark, queries read raw events only.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from carthouse.store import Store
from services.analytics.background import Rounds
from services.analytics.queries.funnel import DONE_UNTIL, STEPS, WINDOW
from services.analytics.queries.scope import MOMENT

log = logging.getLogger("carthouse.analytics.funnel_reach")

LEVELS = len(STEPS)
POLL_SECONDS = 5.0
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
# Days of marks wholly before the day before the last round's end: nothing reads them again.
FINISHED_DAYS = f"""
SELECT DISTINCT partition FROM system.parts
WHERE database = {{db:String}} AND table = 'funnel_dirty' AND active
  AND toUInt32(partition) < toYYYYMMDD({DONE_UNTIL} - INTERVAL 1 DAY)
"""

_COLUMNS = f"""appspace_id, actor_key, user_id, {MOMENT} AS moment, indexOf({list(STEPS)}, event_type) AS step,
       fraud_severity > 0 AS flagged"""
# Step events as (moment, step, flagged), in windowFunnel's order, of the actors of one slice of their keys.
SLICE_EVENTS = f"""
SELECT {_COLUMNS}
FROM funnel_steps
WHERE actor_key % {{slices:UInt64}} = {{slice:UInt64}}
ORDER BY appspace_id, actor_key, moment, step
"""
# The same for a round's actors, from their first new moment minus WINDOW on (the earliest of them bounds the
# read by the table's time key).
ROUND_EVENTS = f"""
SELECT {_COLUMNS.replace("appspace_id, actor_key, user_id,", "steps.appspace_id AS appspace_id, "
                         "steps.actor_key AS actor_key, steps.user_id AS user_id,")}
FROM funnel_steps AS steps
INNER JOIN ({ROUND_ACTORS}) AS marked
    ON steps.appspace_id = marked.appspace_id AND steps.actor_key = marked.actor_key
WHERE steps.event_time >= fromUnixTimestamp64Milli(toInt64(intDiv({{first:UInt64}} - {WINDOW}, 256)), 'UTC')
  AND moment >= marked.first_moment - {WINDOW}
ORDER BY appspace_id, actor_key, moment, step
"""


def latest_starts(events: Sequence[tuple[int, int]]) -> list[int]:
    """For events (moment, step) in windowFunnel's order, the latest moment of a step-1 event that starts a chain
    reaching each level 1..LEVELS within WINDOW (0 where none does)."""
    count = len(events)
    # following[step][i]: the index of the first event of ``step`` at or after index i (count if none).
    following = [[count] * (count + 1) for _ in range(LEVELS + 1)]
    for i in range(count - 1, -1, -1):
        for step in range(1, LEVELS + 1):
            following[step][i] = i if events[i][1] == step else following[step][i + 1]
    starts = [0] * LEVELS
    for i in range(count - 1, -1, -1):
        start, step = events[i]
        if step != 1 or start <= starts[LEVELS - 1]:
            continue
        starts[0] = max(starts[0], start)
        at = i
        # The earliest completion of each further step after this start: the first event of the step after the
        # previous one (greedy is earliest, so if it is too late no chain of this start reaches the step).
        for level in range(2, LEVELS + 1):
            at = following[level][at + 1]
            if at == count or events[at][0] > start + WINDOW:
                break
            starts[level - 1] = max(starts[level - 1], start)
    return starts


def reach_rows(rows: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    """Rows of funnel_reach from step events ordered by appspace, actor, moment and step."""
    for (appspace_id, actor_key), group in groupby(rows, key=lambda row: (row["appspace_id"], row["actor_key"])):
        events = list(group)
        every = latest_starts([(int(e["moment"]), int(e["step"])) for e in events])
        clean = latest_starts([(int(e["moment"]), int(e["step"])) for e in events if not e["flagged"]])
        yield [appspace_id, int(actor_key), events[0]["user_id"], *every, *clean]


def _insert(store: Store, rows: Iterable[list[Any]]) -> int:
    lines = [json.dumps(row).encode() for row in rows]
    store.insert_rows("funnel_reach", ["appspace_id", "actor_key", "user_id", *REACH_COLUMNS], lines)
    return len(lines)


def fill(store: Store) -> int:
    """Every actor's reach from all of funnel_steps; answers how many actors."""
    return sum(_insert(store, reach_rows(store.query(SLICE_EVENTS, {"slices": FILL_SLICES, "slice": part})))
               for part in range(FILL_SLICES))


def store_round(store: Store, margin: timedelta = MARGIN) -> int:
    """Bring funnel_reach up to the actors marked up to ``margin`` ago (every actor on the first round); answers
    how many actors were stored."""
    until = _store_time(store) - margin
    if not int(store.scalar(STARTED)):
        actors = fill(store)
    else:
        first = int(store.scalar(f"SELECT min(first_moment) FROM ({ROUND_ACTORS})", {"until": until}) or 0)
        actors = _insert(store, reach_rows(store.query(ROUND_EVENTS, {"until": until, "first": first}))) \
            if first else 0
    store.execute("INSERT INTO funnel_progress VALUES ({until:DateTime64(3, 'UTC')})", {"until": until})
    for day in store.query(FINISHED_DAYS, {"db": store.database}):
        store.execute(f"ALTER TABLE funnel_dirty DROP PARTITION {int(day['partition'])}")
    return actors


def _store_time(store: Store) -> datetime:
    return datetime.fromisoformat(str(store.scalar("SELECT toString(now64(3, 'UTC'))"))).replace(tzinfo=UTC)


class FunnelReachWorker(Rounds):
    """Runs store_round every POLL_SECONDS until stopped, holding ``rewrites`` (deletions hold it too, so that a
    round never writes the reach of a user whose rows are being removed)."""

    def __init__(self, store: Store, rewrites: threading.Lock, poll_seconds: float = POLL_SECONDS,
                 margin: timedelta = MARGIN) -> None:
        super().__init__("funnel-reach", self.run_once, poll_seconds, log)
        self._store = store
        self._rewrites = rewrites
        self._margin = margin

    def run_once(self) -> None:
        with self._rewrites:
            actors = store_round(self._store, self._margin)
        if actors:
            log.info("stored the funnel reach of %d actors", actors)
