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
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import grpc

from carthouse.cache import TtlCache
from carthouse.errors import Unavailable
from carthouse.money import UnsupportedCurrency, cross_rate, rate_text, to_base_minor_units
from carthouse.tenancy.fraud_settings import FraudSettings
from carthouse.v1 import fx_pb2, fx_pb2_grpc, ingest_pb2
from services.ingest.amounts import EventAmounts, foreign_amounts, oversized_items
from services.ingest.fraud_check import CheckColumns
from services.ingest.model import IncomingEvent, RequestContext
from services.ingest.rows import StoredEvent, build_row, clickhouse_time
from services.ingest.translate import event_from_proto
from services.ingest.validation import MAX_MINOR_UNITS, Limits, ValidationError, validate_event

log = logging.getLogger("carthouse.ingest.prepare")

WORKERS_UNAVAILABLE = "Ingest workers are restarting; nothing was stored, please retry"
FX_UNAVAILABLE = "Currency conversion is unavailable; nothing was stored, please retry"
FX_TIMEOUT_SECONDS = 10


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
    # Where FxService answers (this stack's own port in the embedded mode).
    fx_target: str = ""
    # The appspace's fraud settings overrides, passed on to FraudService.
    fraud_settings: dict = field(default_factory=dict)
    enrich: bool = True
    # A slice of a larger request (Import): the index of its first event there, which errors are numbered from,
    # and each event's seq (its order among the request's events of equal time); else seq is the index.
    first_index: int = 0
    seqs: tuple[int, ...] = ()


@dataclass
class Prepared:
    rows: list[StoredEvent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The rows' events for FraudService: a serialized EventBatch, one event per row, in row order.
    check_batch: bytes = b""
    # Which row each event of check_batch is.
    check_rows: list[int] = field(default_factory=list)


def prepare(job: PrepareJob) -> Prepared:
    """Validate, convert and encode every event of the request; invalid ones become messages (numbered in a
    batch). Foreign-currency amounts of the whole request are converted by one FxService call."""
    if job.is_batch:
        events = ingest_pb2.BatchRequest.FromString(job.payload).events
    else:
        events = [ingest_pb2.TrackRequest.FromString(job.payload).event]
    limits = Limits(now=job.now, is_secret_key=job.key_kind == "secret", retention_days=job.retention_days)
    errors: dict[int, str] = {}
    valid: list[tuple[int, IncomingEvent, datetime]] = []
    for index, message in enumerate(events):
        event = event_from_proto(message)
        try:
            valid.append((index, event, validate_event(event, limits) or job.now))
        except ValidationError as exc:
            errors[index] = str(exc)
    amounts = _convert_amounts(job, valid, errors)
    now_text = clickhouse_time(job.now)
    prepared = Prepared()
    secret_key = job.key_kind == "secret"
    checked = CheckColumns(FraudSettings.from_overrides(job.fraud_settings))
    for index, event, event_time in valid:
        if index not in errors and (oversized := oversized_items(event, amounts[index], job.base_currency)):
            errors[index] = oversized
        if index in errors:
            continue
        checked.add(len(prepared.rows), event, amounts[index], event_time, job.request, secret_key,
                    job.base_currency, job.enrich)
        prepared.rows.append(
            build_row(
                event,
                appspace_id=job.appspace_id,
                base_currency=job.base_currency,
                event_time=clickhouse_time(event_time) if event_time is not job.now else now_text,
                received_at=now_text,
                key_kind=job.key_kind,
                request=job.request,
                amounts=amounts[index],
                seq=job.seqs[index] if job.seqs else index,
                enrich=job.enrich,
            )
        )
    if checked:
        prepared.check_batch = checked.serialized(job.appspace_id, secret_key, job.base_currency, job.fraud_settings)
        prepared.check_rows = checked.rows
    prepared.errors = [f"events[{job.first_index + i}]: {m}" if job.is_batch else m for i, m in sorted(errors.items())]
    return prepared


def _convert_amounts(
    job: PrepareJob, valid: list[tuple[int, IncomingEvent, datetime]], errors: dict[int, str]
) -> dict[int, EventAmounts]:
    """Base-currency amounts per event index, converted here with the rate tables FxService hands out (one
    GetRateTable per hour of event time, cached); an amount without a rate makes its event invalid."""
    amounts = {index: EventAmounts(job.base_currency) for index, _, _ in valid}
    base = job.base_currency
    for index, event, moment in valid:
        for foreign in foreign_amounts(event, base):
            try:
                rate = cross_rate(foreign.currency, base, _rates_at(job.fx_target, moment))
            except UnsupportedCurrency as exc:
                errors.setdefault(index, f"Unsupported currency: {exc}")
                continue
            except NoRates as exc:
                errors.setdefault(index, str(exc))
                continue
            converted = to_base_minor_units(foreign.amount, rate, base)
            if converted > MAX_MINOR_UNITS:
                # 13 digits of a strong currency can exceed Int64 in a weak one (USD 9e12 is 4e19 IRR cents);
                # one such row would fail the whole group insert it travels in.
                errors.setdefault(index, f"{foreign.where} is too large")
                continue
            amounts[index].converted[foreign.where] = converted
            amounts[index].rates.setdefault(foreign.currency, rate_text(rate))
    return amounts


class NoRates(ValueError):
    """FxService has no rates for that time (the message names the day)."""


RATE_TABLE_SECONDS = 600


def _load_rate_table(key: tuple[str, datetime]) -> dict[str, Decimal]:
    target, hour = key
    try:
        response = _fx_stub(target).GetRateTable(fx_pb2.GetRateTableRequest(time=hour.isoformat()),
                                                 timeout=FX_TIMEOUT_SECONDS)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise NoRates(exc.details()) from None
        log.error("FxService at %s unreachable: %s", target, exc)
        raise Unavailable(FX_UNAVAILABLE) from None
    return {code: Decimal(rate) for code, rate in response.rates.items()}


# Every provider's rate period is a whole hour or day, so a table is asked for once per hour of event time and
# kept RATE_TABLE_SECONDS (new hourly rates are picked up after that).
_RATE_TABLES: TtlCache[tuple[str, datetime], dict[str, Decimal]] = TtlCache(_load_rate_table, RATE_TABLE_SECONDS)


def _rates_at(target: str, moment: datetime) -> dict[str, Decimal]:
    """The pivot rates at ``moment`` from FxService (one table per hour of event time, cached)."""
    return _RATE_TABLES.get((target, moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)))


_FX_STUBS: dict[str, fx_pb2_grpc.FxServiceStub] = {}


def _fx_stub(target: str) -> fx_pb2_grpc.FxServiceStub:
    """One channel per worker process and target, reused for every request."""
    stub = _FX_STUBS.get(target)
    if stub is None:
        stub = _FX_STUBS[target] = fx_pb2_grpc.FxServiceStub(grpc.insecure_channel(target))
    return stub


class RowPreparer:
    """Runs ``prepare`` in ``workers`` spawned processes (0: in the calling thread), each started by
    ``initializer`` (a module-level function: it crosses to the process by name).

    Spawned, not forked: the parent runs chdb's and gRPC's threads, which a fork would copy mid-flight.
    """

    def __init__(self, workers: int, initializer: Callable[[], None] | None = None) -> None:
        self._workers = workers
        self._initializer = initializer
        self._pool = self._new_pool() if workers else None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=self._initializer)

    async def prepare(self, job: PrepareJob) -> Prepared:
        if self._pool is None:
            # A thread, not the event loop: preparation may call FxService, which this loop may be serving.
            return await asyncio.to_thread(prepare, job)
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
