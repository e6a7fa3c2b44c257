"""The ingest pipeline for an authenticated caller: validate, plan gate, quota, build rows, write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from carthouse.auth import Principal
from carthouse.errors import InvalidArgument, PermissionDenied
from services.ingest.model import IncomingEvent, RequestContext
from services.ingest.quota import Quota
from services.ingest.rows import StoredEvent, build_row, clickhouse_time
from services.ingest.validation import (
    BATCH_TOO_LARGE,
    EVENTS_REQUIRED,
    MAX_BATCH,
    Limits,
    ValidationError,
    validate_event,
)
from services.ingest.writer import GroupCommitWriter

FREE_TIER = "Ecommerce events are not available on the free tier"


@dataclass
class IngestResult:
    # Valid events: stored, duplicate or (later) silently blocked alike, so a client cannot tell them apart.
    accepted: int
    errors: list[str] = field(default_factory=list)


def utc_now() -> datetime:
    return datetime.now(UTC)


class IngestPipeline:
    def __init__(self, quota: Quota, writer: GroupCommitWriter, clock: Callable[[], datetime] = utc_now) -> None:
        self._quota = quota
        self._writer = writer
        self._clock = clock

    async def track(self, principal: Principal, event: IncomingEvent, request: RequestContext) -> None:
        """One event: any validation error is the whole answer."""
        rows, errors = self._prepare(principal, [event], request, numbered=False)
        if errors:
            raise InvalidArgument(errors[0])
        await self._store(principal, rows)

    async def batch(
        self, principal: Principal, events: Sequence[IncomingEvent], request: RequestContext
    ) -> IngestResult:
        """1..100 events: invalid ones are reported as ``events[i]: ...`` and the rest accepted."""
        if not events:
            raise InvalidArgument(EVENTS_REQUIRED)
        if len(events) > MAX_BATCH:
            raise InvalidArgument(BATCH_TOO_LARGE)
        rows, errors = self._prepare(principal, events, request, numbered=True)
        await self._store(principal, rows)
        return IngestResult(accepted=len(rows), errors=errors)

    def _prepare(
        self, principal: Principal, events: Sequence[IncomingEvent], request: RequestContext, numbered: bool
    ) -> tuple[list[StoredEvent], list[str]]:
        appspace = principal.appspace
        now = self._clock()
        now_text = clickhouse_time(now)
        limits = Limits(now=now, is_secret_key=principal.is_secret, retention_days=appspace.plan.retention_days)
        rows: list[StoredEvent] = []
        errors: list[str] = []
        for index, event in enumerate(events):
            try:
                event_time = validate_event(event, limits)
                rows.append(
                    build_row(
                        event,
                        appspace_id=appspace.appspace_id,
                        base_currency=appspace.base_currency,
                        event_time=clickhouse_time(event_time) if event_time else now_text,
                        received_at=now_text,
                        key_kind=principal.key_kind,
                        request=request,
                    )
                )
            except ValidationError as exc:
                errors.append(f"events[{index}]: {exc}" if numbered else str(exc))
        return rows, errors

    async def _store(self, principal: Principal, rows: list[StoredEvent]) -> None:
        if not rows:
            return
        plan = principal.appspace.plan
        if not plan.ecommerce:
            raise PermissionDenied(FREE_TIER, error_code="FEATURE_GATED")
        self._quota.reserve(principal.appspace.appspace_id, len(rows), plan.monthly_events, self._clock())
        await self._writer.write_async(rows)
