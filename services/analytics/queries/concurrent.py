"""Independent statements of one endpoint run side by side: chdb runs the queries of different pooled
connections in parallel (as a server does for different sessions), so an endpoint costs its slowest
statement instead of the sum. Callers must not nest `together` (a pool thread would wait on the pool)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from carthouse.store import Store

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="analytics-statement")


def together(*calls: Callable[[], Any]) -> list[Any]:
    """The calls' results, in order; the first exception is raised once all have finished."""
    futures = [_POOL.submit(call) for call in calls]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


def share_of_cores(store: Store, sql: str, statements: int) -> str:
    """``sql`` limited to its share of the cores, for one of ``statements`` run side by side. ClickHouse otherwise
    gives every statement a thread per core; on 2 vCPUs the overview's three statements then ran ~10 % slower
    (p50 and p95) than with its two lighter ones on one thread each (its heaviest keeps all the cores)."""
    return f"{sql}\nSETTINGS max_threads = {max(1, store.query_threads() // statements)}"
