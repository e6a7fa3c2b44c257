"""Independent statements of one endpoint run side by side: chdb runs the queries of different pooled
connections in parallel (as a server does for different sessions), so an endpoint costs its slowest
statement instead of the sum. Callers must not nest `together` (a pool thread would wait on the pool)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="analytics-statement")


def together(*calls: Callable[[], Any]) -> list[Any]:
    """The calls' results, in order; the first exception is raised once all have finished."""
    futures = [_POOL.submit(call) for call in calls]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]
