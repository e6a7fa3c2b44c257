"""AnalyticsService servicer: authenticate (secret key), resolve the date range, run the query function,
build the response. Queries live in services/analytics/queries/; methods not built yet answer
UNIMPLEMENTED (501 through the gateway) after authenticating, so nothing pretends to answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import grpc

from carthouse.auth import Authenticator, Principal
from carthouse.errors import InvalidArgument, Unimplemented
from carthouse.money import minor_digits
from carthouse.store import Store
from carthouse.v1 import analytics_pb2, analytics_pb2_grpc
from services.analytics.date_range import DateRange, resolve
from services.analytics.queries import fraud_events

SERVICE = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"]
SERVICE_NAME = SERVICE.full_name
FRAUD_STATUSES = {"": 0, "all": 0, "flagged": 1, "blocked": 2}
DEFAULT_FRAUD_PAGE, MAX_FRAUD_PAGE = 100, 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, authenticator: Authenticator, store: Store, clock: Callable[[], datetime] = utc_now) -> None:
        self._auth = authenticator
        self._store = store
        self._clock = clock

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
        since = dates.since
        if request.since:
            since = max(since, _moment("since", request.since))
        page = fraud_events.caught_events(
            self._store, principal.appspace.appspace_id, since, dates.until, FRAUD_STATUSES[request.status],
            min(limit, MAX_FRAUD_PAGE), request.page_token,
        )
        digits = minor_digits(principal.appspace.base_currency)
        return analytics_pb2.FraudEventsResponse(
            events=[_fraud_event(row, digits) for row in page.rows], next_page_token=page.next_token,
            days=dates.days,
        )


def _fraud_event(row: dict[str, Any], digits: int) -> analytics_pb2.FraudEvent:
    event = analytics_pb2.FraudEvent(
        status="blocked" if row["severity"] == 2 else "flagged",
        severity=row["severity"],
        reasons=row["reasons"],
        event_type=row["event_type"],
        timestamp=rfc3339_ms(int(row["event_time_ms"])),
        user_id=row["user_id"],
        anonymous_id=row["anonymous_id"],
        transaction_id=row["transaction_id"],
        event_id=row["event_id"],
        currency=row["currency"],
        ip=row["ip"],
        user_agent=row["user_agent"],
    )
    if row["revenue"] is not None:
        event.revenue = float(Decimal(int(row["revenue"])).scaleb(-digits))
    return event


def _moment(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{name} must be an RFC 3339 time such as 2026-11-20T12:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def rfc3339_ms(ms: int) -> str:
    """'2026-11-20T12:00:00.000Z'."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _not_yet(method: str) -> Callable[[Any, Any, grpc.ServicerContext], Any]:
    def handler(self: AnalyticsServicer, request: Any, context: grpc.ServicerContext) -> Any:
        self._caller(context)
        raise Unimplemented(f"{method} is not implemented yet")

    handler.__name__ = method
    return handler


for _method in SERVICE.methods:
    if _method.name not in AnalyticsServicer.__dict__:
        setattr(AnalyticsServicer, _method.name, _not_yet(_method.name))
