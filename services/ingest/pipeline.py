"""The ingest pipeline for an authenticated caller: batch limits, row preparation, plan gate, quota, write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from carthouse.auth import Principal
from carthouse.clock import utc_now
from carthouse.errors import InvalidArgument, PermissionDenied
from carthouse.v1 import ingest_pb2
from services.ingest.bulk import IMPORT_TOO_LARGE, MAX_IMPORT, slices_of
from services.ingest.fraud_check import FraudChecker, Screened, apply_verdicts, per_row
from services.ingest.model import RequestContext
from services.ingest.prepare import Prepared, PrepareJob, RowPreparer
from services.ingest.quota import Quota
from services.ingest.validation import BATCH_TOO_LARGE, EVENTS_REQUIRED, MAX_BATCH
from services.ingest.writer import GroupCommitWriter

FREE_TIER = "Ecommerce events are not available on the free tier"


@dataclass
class IngestResult:
    # Valid events: stored, duplicate or silently blocked alike, so a client cannot tell them apart.
    accepted: int
    errors: list[str] = field(default_factory=list)



class IngestPipeline:
    """``fx_target``: where FxService answers (ingest workers ask it for rate tables); ``fraud``: what judges each
    request's events; ``enrich``: derive device, platform and country (benchmarks switch it off to measure it)."""

    def __init__(
        self,
        preparer: RowPreparer,
        quota: Quota,
        writer: GroupCommitWriter,
        *,
        fx_target: str,
        fraud: FraudChecker,
        enrich: bool = True,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._preparer = preparer
        self._quota = quota
        self._writer = writer
        self._fx_target = fx_target
        self._fraud = fraud
        self._enrich = enrich
        self._clock = clock

    async def track(self, principal: Principal, payload: bytes, request: RequestContext) -> None:
        """One serialized TrackRequest: any validation error is the whole answer."""
        prepared = await self._prepare(principal, payload, request, is_batch=False)
        if prepared.errors:
            raise InvalidArgument(prepared.errors[0])
        await self._store(principal, [prepared])

    async def batch(
        self, principal: Principal, payload: bytes, event_count: int, request: RequestContext
    ) -> IngestResult:
        """A serialized BatchRequest of 1..100 events: invalid ones are reported as ``events[i]: ...``."""
        if event_count == 0:
            raise InvalidArgument(EVENTS_REQUIRED)
        if event_count > MAX_BATCH:
            raise InvalidArgument(BATCH_TOO_LARGE)
        prepared = await self._prepare(principal, payload, request, is_batch=True)
        await self._store(principal, [prepared])
        return IngestResult(accepted=len(prepared.rows), errors=prepared.errors)

    async def import_events(
        self, principal: Principal, request: ingest_pb2.ImportRequest, context: RequestContext
    ) -> IngestResult:
        """Up to MAX_IMPORT events of a history import (secret-key rights): prepared in slices by every worker,
        then stored in one group, which the writer commits as one INSERT (an INSERT's cost is mostly fixed)."""
        principal.require_secret()
        if not request.events:
            raise InvalidArgument(EVENTS_REQUIRED)
        if len(request.events) > MAX_IMPORT:
            raise InvalidArgument(IMPORT_TOO_LARGE)
        now = self._clock()
        parts = await asyncio.gather(*(
            self._prepare(principal, part.payload, context, is_batch=True, now=now, first_index=part.first_index,
                          seqs=part.seqs)
            for part in slices_of(request.events)))
        await self._store(principal, parts)
        return IngestResult(accepted=sum(len(part.rows) for part in parts),
                            errors=[error for part in parts for error in part.errors])

    async def _prepare(self, principal: Principal, payload: bytes, request: RequestContext, is_batch: bool,
                       now: datetime | None = None, first_index: int = 0, seqs: tuple[int, ...] = ()) -> Prepared:
        appspace = principal.appspace
        return await self._preparer.prepare(
            PrepareJob(
                payload=payload,
                is_batch=is_batch,
                appspace_id=appspace.appspace_id,
                base_currency=appspace.base_currency,
                retention_days=appspace.plan.retention_days,
                key_kind=principal.key_kind,
                now=now or self._clock(),
                request=request,
                fx_target=self._fx_target,
                fraud_settings=appspace.settings.get("fraud", {}),
                enrich=self._enrich,
                first_index=first_index,
                seqs=seqs,
            )
        )

    async def _store(self, principal: Principal, parts: list[Prepared]) -> None:
        """Plan gate, quota, fraud check of each prepared part, then one write of them all. Blocked events count
        against the quota like stored ones, so the answers and limits a client sees do not reveal them."""
        rows = sum(len(part.rows) for part in parts)
        if not rows:
            return
        plan = principal.appspace.plan
        if not plan.ecommerce:
            raise PermissionDenied(FREE_TIER, error_code="FEATURE_GATED")
        self._quota.reserve(principal.appspace.appspace_id, rows, plan.monthly_events, self._clock())
        screened = await asyncio.gather(*(self._screened(part) for part in parts))
        await self._writer.write_async([row for part in screened for row in part.rows],
                                       [row for part in screened for row in part.blocked])

    async def _screened(self, prepared: Prepared) -> Screened:
        """The rows with FraudService's verdicts: flagged ones marked, blocked ones apart."""
        found = await self._fraud.check(prepared.check_batch, len(prepared.check_rows)) if prepared.check_rows else []
        return apply_verdicts(prepared.rows, per_row(len(prepared.rows), prepared.check_rows, found))
