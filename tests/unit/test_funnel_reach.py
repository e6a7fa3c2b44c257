"""The claim services/analytics/funnel_reach.py rests on: windowFunnel's state after all of an actor's events
(for each level, the start of the latest chain that reached it; what the worker's arrayFold keeps) gives, for
every range start, the level windowFunnel finds among the events from that start on. windowFunnel as in
ClickHouse's source (default mode): events ordered by (timestamp, condition), a step-k event extends the chain
that reached step k - 1 if it is within the window of that chain's start."""

import random

from services.analytics.funnel_reach import LEVELS
from services.analytics.queries.funnel import WINDOW


def window_funnel(events: list[tuple[int, int]]) -> int:
    reached: list[int | None] = [None] * LEVELS
    for moment, step in sorted(events):
        if step == 1:
            reached[0] = moment
        elif reached[step - 2] is not None and moment <= reached[step - 2] + WINDOW:
            reached[step - 1] = reached[step - 2]
    return max((level + 1 for level in range(LEVELS) if reached[level] is not None), default=0)


def latest_starts(events: list[tuple[int, int]]) -> list[int]:
    """The worker's fold (funnel_reach._fold), over events already in windowFunnel's order."""
    state = [0] * LEVELS
    for moment, step in events:
        if step == 1:
            state[0] = moment
        elif state[step - 2] and moment <= state[step - 2] + WINDOW:
            state[step - 1] = state[step - 2]
    return state


def level_from_starts(starts: list[int], since: int) -> int:
    return max((level + 1 for level in range(LEVELS) if starts[level] and starts[level] >= since), default=0)


def test_the_reach_gives_windowfunnels_level_for_every_range_start() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        span = rng.choice([WINDOW // 4, WINDOW, 3 * WINDOW])
        # Few distinct moments, so that ties (same moment, several steps) occur.
        moments = [rng.randrange(0, span) for _ in range(rng.randint(1, 8))]
        events = sorted((rng.choice(moments) + 1, rng.randint(1, LEVELS)) for _ in range(rng.randint(0, 25)))
        starts = latest_starts(events)
        for since in sorted({m for m, _ in events} | {0, span + 1}):
            assert level_from_starts(starts, since) == window_funnel([e for e in events if e[0] >= since]), events


def test_a_chain_exactly_one_window_long_counts_and_one_unit_longer_does_not() -> None:
    assert latest_starts([(10, 1), (10 + WINDOW, 2)])[:2] == [10, 10]
    assert latest_starts([(10, 1), (11 + WINDOW, 2)])[:2] == [10, 0]


def test_the_latest_start_wins_even_when_an_earlier_one_reaches_as_far() -> None:
    # Both starts reach step 3; the second is later, so a range starting between them still sees level 3.
    assert latest_starts([(1, 1), (2, 2), (3, 3), (5, 1), (6, 2), (7, 3)])[:3] == [5, 5, 5]
