"""funnel_reach.latest_starts against ClickHouse's windowFunnel algorithm (default mode, as in its source:
events ordered by (timestamp, condition), a step-k event extends the chain of the latest start that reached step
k - 1 within the window), for every range start: the reach must give the same level."""

import random

from services.analytics.funnel_reach import LEVELS, latest_starts
from services.analytics.queries.funnel import WINDOW


def window_funnel(events: list[tuple[int, int]]) -> int:
    reached: list[int | None] = [None] * LEVELS
    for moment, step in sorted(events):
        if step == 1:
            reached[0] = moment
        elif reached[step - 2] is not None and moment <= reached[step - 2] + WINDOW:
            reached[step - 1] = reached[step - 2]
    return max((level + 1 for level in range(LEVELS) if reached[level] is not None), default=0)


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
