"""Each cart judged, kept in cart_states (migration 0022) by a background worker, so that cart abandonment over a
long range sums carts instead of grouping every cart event of the range (queries/carts.py).

Cart abandonment judges a cart from its cart events inside the range and the purchases since the range's start.
For a cart all of whose cart events lie in the range (the range ends after every stored cart event, as every
range ending today does, and its first cart event is at or after the range's start), that judgement is the
cart's judgement over all its events: first and last moment, last actor, value, and completion by a purchase of
the cart or of its last actor at or after its first event (an earlier purchase cannot complete it, wherever the
range starts). Only the idleness depends on the moment of the call, so the row keeps the last moment and the
query compares it. A cart with events on both sides of the range's start is judged from raw events.

A round judges again, one appspace at a time, every cart cart_dirty marked since the last round (its own cart
events and purchases) and every open cart whose last actor bought since, from their rows since the earliest
first moment among marks and stored rows on; it writes each one's previous row with sign -1 beside its new row
in one INSERT and moves cart_progress's mark; marks are taken up to MARGIN ago, as the last-touch worker does
(last_touches.py explains why). Queries judge the carts marked after the mark from raw events, and complete a
judged cart whose last actor bought after the mark by that actor's latest purchase. The first round judges every
cart; until it has written the first mark, queries read raw events only.

A user's deletion (deletions.py) first judges the user's carts again without the user's rows, then removes the
user's rows everywhere, cart_states' rows of the user included: a cart keeps no trace of a deleted user.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from carthouse.store import Store
from carthouse.store.base import ONE_BLOCK
from services.analytics.background import MARKED_ROUND_SECONDS, MarkedRounds, drop_finished_days, store_time
from services.analytics.queries.carts import CART_EVENTS, DONE_UNTIL
from services.analytics.queries.scope import MOMENT

log = logging.getLogger("carthouse.analytics.cart_states")

MARGIN = timedelta(seconds=10)
# Carts are judged in this many slices by their key on the first round: each slice's events are held at once.
FILL_SLICES = 16

STARTED = "SELECT count() FROM cart_progress"
COLUMNS = ("appspace_id, clean, cart_key, user_id, first_moment, last_moment, last_actor, has_add, completed, "
           "left_value, judged_at")

# Per appspace, the carts and the buyers marked in (mark, until], and the earliest moment of their rows.
MARKED = f"""
SELECT appspace_id, groupUniqArray(cart_key) AS carts, groupUniqArrayIf(actor_key, bought = 1) AS buyers,
       min(first_moment) AS first_moment
FROM cart_dirty
WHERE inserted_at > {DONE_UNTIL} AND inserted_at <= {{until:DateTime64(3, 'UTC')}}
GROUP BY appspace_id
"""
# The carts not yet completed whose last actor is one of ``buyers`` (a purchase of theirs may complete them; a
# completed cart stays completed).
BOUGHT_BY_LAST_ACTOR = """
SELECT groupUniqArray(cart_key) AS carts FROM cart_states
WHERE appspace_id = {appspace:String} AND last_actor IN {buyers:Array(UInt64)} AND completed = 0
"""
# The carts a user's rows touch: their cart events and purchases, and the carts they are the last actor of.
OF_USER = """
SELECT groupUniqArray(cart_key) AS carts FROM (
    SELECT cart_key FROM cart_activity WHERE appspace_id = {appspace:String} AND user_id = {excluded:String}
    UNION ALL
    SELECT cart_key FROM cart_states
    WHERE appspace_id = {appspace:String} AND last_actor = cityHash64({excluded:String})
)
"""
# The earliest first moment the carts' rows hold: their cart events, and purchases that may complete them, are
# read from there on.
EARLIEST = """
SELECT min(first_moment) FROM cart_states WHERE appspace_id = {appspace:String} AND cart_key IN {carts:Array(UInt64)}
"""
_NAMED = "appspace_id = {appspace:String} AND cart_key IN {carts:Array(UInt64)}"
# Rows of the excluded user (a user being deleted; '' for none) are left out of a judgement.
_NOT_EXCLUDED = "({excluded:String} = '' OR user_id != {excluded:String})"
_FROM = "event_time >= fromUnixTimestamp64Milli(toInt64(intDiv({from:UInt64}, 256)), 'UTC')"

# The carts' rows now in cart_states, to be written again with sign -1 (named apart: an alias `sign` would be
# what sum(sign) adds up).
_CURRENT = f"""
SELECT {COLUMNS}, toInt8(-1) AS cancel FROM cart_states
WHERE {{carts}} AND first_moment >= {{from:UInt64}}
GROUP BY {COLUMNS}
HAVING sum(sign) > 0
"""
# The carts judged from their cart events (every one, and the unflagged ones) and the purchases of the cart or of
# its last actor, as queries/carts.py judges them; a cart's last event packed as there.
_JUDGED = f"""
WITH judged_carts AS (
    SELECT appspace_id, cart_key, clean, max(user_id) AS user_id, min(moment) AS first_moment,
           max(bitOr(bitShiftLeft(toUInt128(moment), 64), actor_key)) AS last_event,
           sum(toInt128(if(event_type = 'add_to_cart', items_value, -items_value))) AS value,
           countIf(event_type = 'add_to_cart') > 0 AS has_add
    FROM (
        SELECT appspace_id, cart_key, actor_key, user_id, event_type, items_value, {MOMENT} AS moment,
               arrayJoin(if(fraud_severity = 0, [0, 1], [0])) AS clean
        FROM cart_activity
        WHERE event_type IN {CART_EVENTS} AND {{carts}} AND {_FROM} AND {_NOT_EXCLUDED}
    )
    GROUP BY appspace_id, cart_key, clean
)
SELECT judged_carts.appspace_id AS appspace_id, clean, judged_carts.cart_key AS cart_key, user_id, first_moment,
       toUInt64(bitShiftRight(last_event, 64)) AS last_moment,
       toUInt64(bitAnd(last_event, 0xFFFFFFFFFFFFFFFF)) AS last_actor, has_add,
       greatest(by_cart.bought, by_actor.bought) >= first_moment AS completed,
       greatest(value, 0) AS left_value, now64(6, 'UTC') AS judged_at, toInt8(1) AS sign
FROM judged_carts
LEFT JOIN (
    SELECT appspace_id, cart_key, max({MOMENT}) AS bought FROM cart_activity
    WHERE event_type = 'purchase' AND cart_key != 0 AND {{carts}} AND {_FROM} AND {_NOT_EXCLUDED}
    GROUP BY appspace_id, cart_key
) AS by_cart ON judged_carts.appspace_id = by_cart.appspace_id AND judged_carts.cart_key = by_cart.cart_key
LEFT JOIN (
    SELECT appspace_id, actor_key, max({MOMENT}) AS bought FROM cart_activity
    WHERE event_type = 'purchase' AND actor_key != 0 AND {_FROM} AND {_NOT_EXCLUDED}
      AND (appspace_id, actor_key) IN (
          SELECT appspace_id, actor_key FROM cart_activity
          WHERE event_type IN {CART_EVENTS} AND {{carts}} AND {_FROM})
    GROUP BY appspace_id, actor_key
) AS by_actor ON judged_carts.appspace_id = by_actor.appspace_id AND last_actor = by_actor.actor_key
SETTINGS join_use_nulls = 0
"""
# The old rows' cancellations and the new rows in one INSERT, so that both read the same rows, written as one
# block (one part, visible at once: a query never sees a cancellation without its new row).
_WRITE = (f"INSERT INTO cart_states ({COLUMNS}, sign) SELECT * FROM ({_CURRENT} UNION ALL {_JUDGED}) "
          f"SETTINGS {ONE_BLOCK}")
# Every cart of one slice of their keys.
FILL_SLICE = _WRITE.replace("{carts}", "cart_key % {slices:UInt64} = {slice:UInt64}")
JUDGE_NAMED = _WRITE.replace("{carts}", _NAMED)


def fill(store: Store) -> None:
    """Judge every cart, a slice of them at a time."""
    for part in range(FILL_SLICES):
        store.execute(FILL_SLICE, {"slices": FILL_SLICES, "slice": part, "from": 0, "excluded": ""})


def judge(store: Store, appspace_id: str, carts: list[int], first_moment: int = 0, excluded: str = "") -> None:
    """Judge again the appspace's ``carts`` (their rows since ``first_moment`` at the latest), leaving out the
    rows of the user ``excluded``."""
    params = {"appspace": appspace_id, "carts": carts, "excluded": excluded}
    stored = int(store.scalar(EARLIEST, params) or 0)
    first = min(first_moment, stored) if stored else first_moment
    store.execute(JUDGE_NAMED, {**params, "from": first})


def store_round(store: Store, margin: timedelta = MARGIN) -> int:
    """Judge again the carts marked up to ``margin`` ago, and the carts their actors may have completed (every
    cart on the first round); answers how many carts the round took (0 for the first)."""
    until = store_time(store) - margin
    judged = 0
    if not int(store.scalar(STARTED)):
        fill(store)
    else:
        for marked in store.query(MARKED, {"until": until}):
            appspace_id, carts = marked["appspace_id"], set(marked["carts"])
            carts.update(store.query(BOUGHT_BY_LAST_ACTOR, {"appspace": appspace_id,
                                                            "buyers": marked["buyers"]})[0]["carts"])
            judge(store, appspace_id, sorted(carts), int(marked["first_moment"]))
            judged += len(carts)
    store.execute("INSERT INTO cart_progress VALUES ({until:DateTime64(3, 'UTC')})", {"until": until})
    drop_finished_days(store, "cart_dirty", DONE_UNTIL)
    return judged


def judge_without_user(store: Store, appspace_id: str, user_id: str) -> None:
    """Judge again the carts the user's rows touch as if they were gone (a deletion, before it removes them)."""
    if int(store.scalar(STARTED)):
        carts = store.query(OF_USER, {"appspace": appspace_id, "excluded": user_id})[0]["carts"]
        if carts:
            judge(store, appspace_id, carts, excluded=user_id)


class CartStateWorker(MarkedRounds):
    def __init__(self, store: Store, rewrites: threading.Lock, poll_seconds: float = MARKED_ROUND_SECONDS,
                 margin: timedelta = MARGIN) -> None:
        super().__init__("cart-states", store_round, store, rewrites, poll_seconds, margin, log,
                         "judged %d carts again")
