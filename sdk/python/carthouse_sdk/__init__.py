"""Carthouse for Python servers: ``Client(secret_key, endpoint).track("purchase", transaction_id=…, revenue=…)``.

Events are batched and sent by a background thread, retried on network errors, 5xx, 408 and 429, and carry an
event_id so that a retry is never stored twice. docs/SDK.md lists every option.
"""

from carthouse_sdk.client import CarthouseError, Client, Stats
from carthouse_sdk.results import (
    AttributedChannel,
    Attribution,
    CartAbandonment,
    ChannelRevenue,
    Cohort,
    Cohorts,
    CountryRevenue,
    CouponRevenue,
    DeviceRevenue,
    Funnel,
    FunnelStep,
    JourneyEvent,
    JourneyItem,
    Overview,
    PlatformRevenue,
    Product,
    RevenueByChannel,
    RevenueByCountry,
    RevenueByCoupon,
    RevenueByDevice,
    RevenueByPlatform,
    RevenueDay,
    RevenueTimeseries,
    TopProducts,
    Unattributed,
    UserJourney,
)

__all__ = [
    "AttributedChannel", "Attribution", "CartAbandonment", "CarthouseError", "ChannelRevenue", "Client",
    "Cohort", "Cohorts", "CountryRevenue", "CouponRevenue", "DeviceRevenue", "Funnel", "FunnelStep",
    "JourneyEvent", "JourneyItem", "Overview", "PlatformRevenue", "Product", "RevenueByChannel",
    "RevenueByCountry", "RevenueByCoupon", "RevenueByDevice", "RevenueByPlatform", "RevenueDay",
    "RevenueTimeseries", "Stats", "TopProducts", "Unattributed", "UserJourney",
]
