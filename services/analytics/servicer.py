"""AnalyticsService servicer: authenticate (secret key), resolve the date range, run the query function,
build the response. Queries live in services/analytics/queries/; methods not built yet answer
UNIMPLEMENTED (501 through the gateway) after authenticating, so nothing pretends to answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc

from carthouse.auth import Authenticator, Principal
from carthouse.errors import InvalidArgument, Unavailable, Unimplemented
from carthouse.store import Store
from carthouse.v1 import analytics_pb2, analytics_pb2_grpc, fraud_pb2, fraud_pb2_grpc
from services.analytics.date_range import DateRange, resolve

SERVICE = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"]
SERVICE_NAME = SERVICE.full_name
FRAUD_UNAVAILABLE = "Fraud events are unavailable right now, please retry"
FRAUD_STATUSES = {"": 0, "all": 0, "flagged": 1, "blocked": 2}
DEFAULT_FRAUD_PAGE, MAX_FRAUD_PAGE = 100, 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, authenticator: Authenticator, store: Store, clock: Callable[[], datetime] = utc_now) -> None:
        self._auth = authenticator
        self._store = store
        self._clock = clock
        # FraudService's address, set once known (in the embedded mode: this server's own port).
        self.fraud_target = ""
        self._fraud: fraud_pb2_grpc.FraudServiceStub | None = None

    def _caller(self, context: grpc.ServicerContext) -> Principal:
        principal = self._auth.authenticate(context.invocation_metadata())
        principal.require_secret()
        return principal

    def _range(self, principal: Principal, request: Any) -> DateRange:
        appspace = principal.appspace
        return resolve(
            days=request.days if request.HasField("days") else None,
            start=request.start,
            end=request.end,
            tz=request.tz,
            appspace_tz=appspace.timezone,
            retention_days=appspace.plan.retention_days,
            now=self._clock(),
        )

    def FraudEvents(
        self, request: analytics_pb2.FraudEventsRequest, context: grpc.ServicerContext
    ) -> analytics_pb2.FraudEventsResponse:
        principal = self._caller(context)
        dates = self._range(principal, request)
        if request.status not in FRAUD_STATUSES:
            raise InvalidArgument("status must be flagged, blocked or all")
        limit = request.limit if request.HasField("limit") else DEFAULT_FRAUD_PAGE
        if limit < 1:
            raise InvalidArgument(f"limit must be a positive whole number, got {limit}")
        try:
            caught = self._fraud_stub().ListCaught(fraud_pb2.ListCaughtRequest(
                appspace_id=principal.appspace.appspace_id,
                since_ms=int(dates.since.timestamp() * 1000),
                until_ms=int(dates.until.timestamp() * 1000),
                severity=FRAUD_STATUSES[request.status],
                limit=min(limit, MAX_FRAUD_PAGE),
                page_token=request.page_token,
            ), timeout=10)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(exc.details()) from None
            raise Unavailable(FRAUD_UNAVAILABLE) from None
        return analytics_pb2.FraudEventsResponse(
            events=[_fraud_event(event) for event in caught.events],
            next_page_token=caught.next_page_token,
            days=dates.days,
        )

    def _fraud_stub(self) -> fraud_pb2_grpc.FraudServiceStub:
        if self._fraud is None:
            if not self.fraud_target:
                raise Unavailable(FRAUD_UNAVAILABLE)
            self._fraud = fraud_pb2_grpc.FraudServiceStub(grpc.insecure_channel(self.fraud_target))
        return self._fraud


def _fraud_event(caught: fraud_pb2.CaughtEvent) -> analytics_pb2.FraudEvent:
    event = analytics_pb2.FraudEvent(
        status=caught.status, severity=caught.severity, reasons=caught.reasons, event_type=caught.event_type,
        timestamp=caught.timestamp, user_id=caught.user_id, anonymous_id=caught.anonymous_id,
        transaction_id=caught.transaction_id, event_id=caught.event_id, currency=caught.currency, ip=caught.ip,
        user_agent=caught.user_agent,
    )
    if caught.HasField("revenue"):
        event.revenue = caught.revenue
    return event


def _not_yet(method: str) -> Callable[[Any, Any, grpc.ServicerContext], Any]:
    def handler(self: AnalyticsServicer, request: Any, context: grpc.ServicerContext) -> Any:
        self._caller(context)
        raise Unimplemented(f"{method} is not implemented yet")

    handler.__name__ = method
    return handler


for _method in SERVICE.methods:
    if _method.name not in AnalyticsServicer.__dict__:
        setattr(AnalyticsServicer, _method.name, _not_yet(_method.name))
