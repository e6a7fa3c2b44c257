"""AnalyticsService servicer: authenticate (secret key, or the operator's admin token for an appspace), resolve
the date range, run the query functions, build the response. Queries live in services/analytics/queries/,
metric definitions in docs/METRICS.md."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import grpc

from carthouse.auth import Authenticator, Principal
from carthouse.clock import utc_now
from carthouse.errors import InvalidArgument
from carthouse.money import minor_digits
from carthouse.store import Store
from carthouse.tenancy.repository import rfc3339
from carthouse.v1 import analytics_pb2, analytics_pb2_grpc
from services.analytics import deletions
from services.analytics.date_range import DateRange, resolve
from services.analytics.deletions import DeletionWorker
from services.analytics.numbers import money, money_ratio, percent
from services.analytics.queries import attribution, carts, channels, fraud_events, funnel, people, revenue
from services.analytics.queries.scope import scope_params

SERVICE = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"]
SERVICE_NAME = SERVICE.full_name
FRAUD_STATUSES = {"": 0, "all": 0, "flagged": 1, "blocked": 2}
DEFAULT_FRAUD_PAGE, MAX_FRAUD_PAGE = 100, 1000
DEFAULT_PRODUCTS, MAX_PRODUCTS = 20, 100
DEFAULT_JOURNEY, MAX_JOURNEY = 100, 1000
DEFAULT_MONTHS, MAX_MONTHS = 6, 24
REVENUE_EVENTS = {"purchase", "refund", "spend_credits"}



class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(
        self,
        authenticator: Authenticator,
        store: Store,
        clock: Callable[[], datetime] = utc_now,
        deletions: DeletionWorker | None = None,
    ) -> None:
        self._auth = authenticator
        self._store = store
        self._clock = clock
        self._deletions = deletions

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

    def _scope(self, request: Any, context: grpc.ServicerContext) -> tuple[Principal, DateRange, dict[str, Any], int]:
        """The caller, its date range, the scope parameters every query binds, and the base currency's digits."""
        principal = self._caller(context)
        dates = self._range(principal, request)
        params = scope_params(self._store, principal.appspace.appspace_id, dates.since, dates.until,
                              request.include_flagged)
        return principal, dates, params, minor_digits(principal.appspace.base_currency)

    def Overview(self, request: analytics_pb2.OverviewRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        totals = revenue.totals(self._store, params, self._clock())
        return analytics_pb2.OverviewResponse(
            total_revenue=money(totals["purchase_revenue"], digits),
            net_revenue=money(totals["purchase_revenue"] - totals["refund_amount"], digits),
            total_orders=totals["orders"],
            total_refunds=totals["refunds"],
            refund_amount=money(totals["refund_amount"], digits),
            avg_order_value=money_ratio(totals["purchase_revenue"], totals["orders"], digits),
            total_items_sold=totals["items"],
            cart_abandonment_rate=percent(totals["abandoned_carts"],
                                          totals["abandoned_carts"] + totals["completed_carts"]),
            add_to_cart_rate=percent(totals["cart_actors"], totals["viewing_actors"]),
            days=dates.days,
        )

    def RevenueTimeseries(self, request: analytics_pb2.RevenueTimeseriesRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        series = revenue.daily(self._store, params, dates.tz, dates.dates())
        return analytics_pb2.RevenueTimeseriesResponse(
            series=[analytics_pb2.RevenueDay(date=day, revenue=money(minor, digits), orders=orders)
                    for day, minor, orders in series],
            days=dates.days,
        )

    def Funnel(self, request: analytics_pb2.FunnelRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, _ = self._scope(request, context)
        counts = funnel.step_counts(self._store, params)
        return analytics_pb2.FunnelResponse(
            steps=[
                analytics_pb2.FunnelStep(name=name, count=count,
                                         percentage=100.0 if index == 0 else percent(count, counts[index - 1]))
                for index, (name, count) in enumerate(zip(funnel.STEPS, counts, strict=True))
            ],
            days=dates.days,
        )

    def TopProducts(self, request: analytics_pb2.TopProductsRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        limit = request.limit if request.HasField("limit") else DEFAULT_PRODUCTS
        if limit < 1:
            raise InvalidArgument(f"limit must be a positive whole number, got {limit}")
        rows = revenue.top_products(self._store, params, min(limit, MAX_PRODUCTS))
        return analytics_pb2.TopProductsResponse(
            products=[analytics_pb2.ProductRevenue(item_id=r["item_id"], item_name=r["item_name"],
                                                   revenue=money(r["revenue_minor"], digits), quantity=int(r["units"]),
                                                   orders=int(r["order_count"])) for r in rows],
            days=dates.days,
        )

    def RevenueByChannel(self, request: analytics_pb2.RevenueByChannelRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        return analytics_pb2.RevenueByChannelResponse(
            channels=[analytics_pb2.ChannelRevenue(
                campaign=r["campaign"], source=r["source"], medium=r["medium"],
                revenue=money(r["revenue_minor"], digits),
                orders=int(r["order_count"]), conversion_rate=percent(int(r["order_count"]), r["touched_actors"]),
            ) for r in channels.by_channel(self._store, params)],
            days=dates.days,
        )

    def RevenueByCoupon(self, request: analytics_pb2.RevenueByCouponRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        return analytics_pb2.RevenueByCouponResponse(
            coupons=[analytics_pb2.CouponRevenue(
                coupon_code=r["coupon_code"], revenue=money(r["revenue_minor"], digits), orders=int(r["order_count"]),
                avg_discount=money_ratio(r["discount_minor"], r["order_count"], digits),
            ) for r in revenue.by_coupon(self._store, params)],
            days=dates.days,
        )

    def RevenueByDevice(self, request: analytics_pb2.RevenueByDeviceRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        return analytics_pb2.RevenueByDeviceResponse(
            devices=[analytics_pb2.DeviceRevenue(device_type=key, revenue=money(minor, digits), orders=orders)
                     for key, minor, orders in self._breakdown(params, "device_type")],
            days=dates.days,
        )

    def RevenueByPlatform(self, request: analytics_pb2.RevenueByPlatformRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        return analytics_pb2.RevenueByPlatformResponse(
            platforms=[analytics_pb2.PlatformRevenue(platform=key, revenue=money(minor, digits), orders=orders)
                       for key, minor, orders in self._breakdown(params, "platform")],
            days=dates.days,
        )

    def RevenueByCountry(self, request: analytics_pb2.RevenueByCountryRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        return analytics_pb2.RevenueByCountryResponse(
            countries=[analytics_pb2.CountryRevenue(country=key, revenue=money(minor, digits), orders=orders)
                       for key, minor, orders in self._breakdown(params, "country")],
            days=dates.days,
        )

    def _breakdown(self, params: dict[str, Any], column: str) -> list[tuple[str, int, int]]:
        rows = revenue.by_column(self._store, params, column)
        return [(r["key"], int(r["revenue_minor"]), int(r["order_count"])) for r in rows]

    def CartAbandonment(self, request: analytics_pb2.CartAbandonmentRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        judged = carts.abandonment(self._store, params, self._clock())
        return analytics_pb2.CartAbandonmentResponse(
            abandonment_rate=percent(judged["abandoned_carts"], judged["abandoned_carts"] + judged["completed_carts"]),
            abandoned_carts=judged["abandoned_carts"],
            abandoned_revenue=money(judged["abandoned_value"], digits),
            completed_carts=judged["completed_carts"],
            days=dates.days,
        )

    def Attribution(self, request: analytics_pb2.AttributionRequest, context: grpc.ServicerContext) -> Any:
        _, dates, params, digits = self._scope(request, context)
        model = request.model or "last_click"
        if model not in attribution.MODELS:
            raise InvalidArgument(f"model must be one of {', '.join(attribution.MODELS)}")
        window = request.window if request.HasField("window") else 30
        if window not in attribution.WINDOWS:
            raise InvalidArgument(f"window must be one of {', '.join(map(str, attribution.WINDOWS))}")
        found = attribution.attribution(self._store, params, model, window)
        total = int(found["all"]["revenue_minor"])
        attributed_minor = int(found["attributed"]["revenue_minor"])
        rows = []
        for row in found["channels"]:
            credit = int(row["revenue_minor"])
            rows.append(analytics_pb2.AttributedChannel(
                campaign=row["campaign"], source=row["source"], medium=row["medium"], revenue=money(credit, digits),
                orders=round(float(row["order_credit"]), 2), pct_of_total=percent(credit, total),
            ))
        return analytics_pb2.AttributionResponse(
            attributed=rows,
            unattributed=analytics_pb2.Unattributed(
                revenue=money(total - attributed_minor, digits),
                orders=int(found["all"]["orders"]) - int(found["attributed"]["orders"]),
            ),
            model=model,
            window_days=window,
        )

    def UserJourney(self, request: analytics_pb2.UserJourneyRequest, context: grpc.ServicerContext) -> Any:
        _, _, params, digits = self._scope(request, context)
        if not request.user_id:
            raise InvalidArgument("user_id is required")
        limit = request.limit if request.HasField("limit") else DEFAULT_JOURNEY
        if limit < 1:
            raise InvalidArgument(f"limit must be a positive whole number, got {limit}")
        order = request.order or "oldest"
        if order not in people.JOURNEY_ORDERS:
            raise InvalidArgument("order must be oldest or newest")
        events = people.journey(self._store, params, request.user_id, min(limit, MAX_JOURNEY), order)
        return analytics_pb2.UserJourneyResponse(
            events=[_journey_event(event, digits) for event in events], user_id=request.user_id
        )

    def Cohorts(self, request: analytics_pb2.CohortsRequest, context: grpc.ServicerContext) -> Any:
        principal = self._caller(context)
        months = request.months if request.HasField("months") else DEFAULT_MONTHS
        if not 1 <= months <= MAX_MONTHS:
            raise InvalidArgument(f"months must be between 1 and {MAX_MONTHS}, got {months}")
        dates = self._range(principal, analytics_pb2.OverviewRequest(tz=request.tz))  # validates tz
        this_month = dates.last.replace(day=1)
        window = [_add_months(this_month, -n) for n in range(months)]  # newest first
        appspace = principal.appspace
        kept = resolve(days=appspace.plan.retention_days, start="", end="", tz=dates.tz, appspace_tz=dates.tz,
                       retention_days=appspace.plan.retention_days, now=self._clock())
        params = {**scope_params(self._store, appspace.appspace_id, kept.since, kept.until, request.include_flagged),
                  "tz": dates.tz, "kept_since": kept.since}
        users, net = people.cohorts(self._store, params, window[-1])
        digits = minor_digits(appspace.base_currency)
        cohorts = []
        for month in window:
            key = month.isoformat()
            offsets = (this_month.year - month.year) * 12 + this_month.month - month.month
            cohorts.append(analytics_pb2.Cohort(
                month=key[:7], users=users.get(key, 0),
                revenue_by_month={str(k): money(net.get(key, {}).get(k, 0), digits) for k in range(offsets + 1)},
                ltv=money_ratio(sum(net.get(key, {}).values()), users.get(key, 0), digits),
            ))
        total_users = sum(users.get(m.isoformat(), 0) for m in window)
        total_net = sum(sum(net.get(m.isoformat(), {}).values()) for m in window)
        return analytics_pb2.CohortsResponse(
            cohorts=cohorts, avg_ltv=money_ratio(total_net, total_users, digits), total_purchasing_users=total_users
        )

    def DeleteUser(self, request: analytics_pb2.DeleteUserRequest, context: grpc.ServicerContext) -> Any:
        principal = self._caller(context)
        if not request.user_id:
            raise InvalidArgument("user_id is required")
        # Recorded before answering: from now on queries hide the user, and the request survives restarts.
        deletions.record(self._store, principal.appspace.appspace_id, request.user_id, self._clock())
        if self._deletions is not None:
            self._deletions.wake()
        return analytics_pb2.DeleteUserResponse(ok=True, deleted_user_id=request.user_id)

    def ListDeletions(self, request: analytics_pb2.ListDeletionsRequest, context: grpc.ServicerContext) -> Any:
        principal = self._caller(context)
        return analytics_pb2.ListDeletionsResponse(deletions=[
            analytics_pb2.DeletionRequest(
                user_id=row["user_id"], requested_at=rfc3339(row["requested_at"]), status=row["status"],
                completed_at=rfc3339(row["completed_at"] or ""), rows_removed=int(row["rows_before"]),
            )
            for row in deletions.list_requests(self._store, principal.appspace.appspace_id)
        ])

    def GetAppspace(self, request: analytics_pb2.GetAppspaceRequest, context: grpc.ServicerContext) -> Any:
        appspace = self._caller(context).appspace
        return analytics_pb2.GetAppspaceResponse(
            appspace_id=appspace.appspace_id, name=appspace.name, base_currency=appspace.base_currency,
            timezone=appspace.timezone, plan=appspace.plan_name, retention_days=appspace.plan.retention_days,
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
        event.revenue = money(row["revenue"], digits)
    return event


def _moment(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{name} must be an RFC 3339 time such as 2026-11-20T12:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _journey_event(event: dict[str, Any], digits: int) -> analytics_pb2.JourneyEvent:
    message = analytics_pb2.JourneyEvent(
        event_type=event["event_type"],
        timestamp=rfc3339_ms(int(event["at_ms"])),
        transaction_id=event["transaction_id"],
        properties=event["properties"],
        items=[_journey_item(item) for item in event["items"]],
    )
    if event["event_type"] in REVENUE_EVENTS and event["revenue"] is not None:
        message.revenue = money(event["revenue"], digits)
    return message


def _journey_item(row: dict[str, Any]) -> analytics_pb2.JourneyItem:
    item = analytics_pb2.JourneyItem(item_id=row["item_id"], item_name=row["item_name"], quantity=int(row["quantity"]))
    if row["price_original"] is not None:
        item.price = float(row["price_original"])
    return item


def rfc3339_ms(ms: int) -> str:
    """'2026-11-20T12:00:00Z', with milliseconds only when there are some ('…:00.250Z')."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"

