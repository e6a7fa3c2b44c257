"""Row preparation: a serialized Track/Batch request in, validated rows and per-event errors out.

This is the CPU-heavy, per-event part of ingest (protobuf to plain Python, validation, money to minor units,
JSON encoding). It is a pure function of picklable inputs so that a pool of worker processes can run it
beside the gRPC event loop: one Python thread cannot reach the ingest target alone (docs/PERFORMANCE.md).
Nothing here touches ClickHouse or Redis.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime

from carthouse.errors import Unavailable
from carthouse.v1 import ingest_pb2
from services.ingest.model import RequestContext
from services.ingest.rows import StoredEvent, build_row, clickhouse_time
from services.ingest.translate import event_from_proto
from services.ingest.validation import Limits, ValidationError, validate_event

log = logging.getLogger("carthouse.ingest.prepare")

WORKERS_UNAVAILABLE = "Ingest workers are restarting; nothing was stored, please retry"


@dataclass(frozen=True)
class PrepareJob:
    """Everything preparation needs, as plain values (it crosses a process boundary)."""

    payload: bytes
    is_batch: bool
    appspace_id: str
    base_currency: str
    retention_days: int
    key_kind: str
    now: datetime
    request: RequestContext


@dataclass
class Prepared:
    rows: list[StoredEvent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def prepare(job: PrepareJob) -> Prepared:
    """Validate and encode every event of the request; invalid ones become messages (numbered in a batch)."""
    if job.is_batch:
        events = ingest_pb2.BatchRequest.FromString(job.payload).events
    else:
        events = [ingest_pb2.TrackRequest.FromString(job.payload).event]
    limits = Limits(now=job.now, is_secret_key=job.key_kind == "secret", retention_days=job.retention_days)
    now_text = clickhouse_time(job.now)
    prepared = Prepared()
    for index, message in enumerate(events):
        event = event_from_proto(message)
        try:
            event_time = validate_event(event, limits)
            prepared.rows.append(
                build_row(
                    event,
                    appspace_id=job.appspace_id,
                    base_currency=job.base_currency,
                    event_time=clickhouse_time(event_time) if event_time else now_text,
                    received_at=now_text,
                    key_kind=job.key_kind,
                    request=job.request,
                )
            )
        except ValidationError as exc:
            prepared.errors.append(f"events[{index}]: {exc}" if job.is_batch else str(exc))
    return prepared


class RowPreparer:
    """Runs ``prepare`` in ``workers`` spawned processes (0: in the calling thread).

    Spawned, not forked: the parent runs chdb's and gRPC's threads, which a fork would copy mid-flight.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool = self._new_pool() if workers else None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))

    async def prepare(self, job: PrepareJob) -> Prepared:
        if self._pool is None:
            return prepare(job)
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, prepare, job)
        except BrokenProcessPool:
            log.error("an ingest worker process died; starting a new pool")
            if self._pool is pool:
                self._pool = self._new_pool()
            raise Unavailable(WORKERS_UNAVAILABLE) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
