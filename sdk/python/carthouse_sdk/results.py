"""What the analytics methods return: plain dataclasses with the API's field names (money in the base currency)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Overview:
    total_revenue: float
    net_revenue: float
    total_orders: int
    total_refunds: int
    refund_amount: float
    avg_order_value: float
    total_items_sold: float
    cart_abandonment_rate: float
    add_to_cart_rate: float
    days: int


@dataclass(frozen=True)
class FunnelStep:
    name: str
    count: int
    percentage: float


@dataclass(frozen=True)
class Funnel:
    steps: list[FunnelStep]
    days: int


@dataclass(frozen=True)
class Product:
    item_id: str
    item_name: str
    revenue: float
    quantity: float
    orders: int


@dataclass(frozen=True)
class TopProducts:
    products: list[Product]
    days: int


@dataclass(frozen=True)
class CartAbandonment:
    abandonment_rate: float
    abandoned_carts: int
    abandoned_revenue: float
    completed_carts: int
    days: int


@dataclass(frozen=True)
class AttributedChannel:
    campaign: str
    source: str
    medium: str
    revenue: float
    orders: float
    pct_of_total: float


@dataclass(frozen=True)
class Unattributed:
    revenue: float
    orders: int


@dataclass(frozen=True)
class Attribution:
    attributed: list[AttributedChannel]
    unattributed: Unattributed
    model: str
    window_days: int


@dataclass(frozen=True)
class Cohort:
    month: str
    users: int
    revenue_by_month: dict[str, float] = field(default_factory=dict)
    ltv: float = 0.0


@dataclass(frozen=True)
class Cohorts:
    cohorts: list[Cohort]
    avg_ltv: float
    total_purchasing_users: int


@dataclass(frozen=True)
class RevenueDay:
    date: str
    revenue: float
    orders: int


@dataclass(frozen=True)
class RevenueTimeseries:
    series: list[RevenueDay]
    days: int


@dataclass(frozen=True)
class ChannelRevenue:
    campaign: str
    source: str
    medium: str
    revenue: float
    orders: int
    conversion_rate: float


@dataclass(frozen=True)
class RevenueByChannel:
    channels: list[ChannelRevenue]
    days: int


@dataclass(frozen=True)
class CouponRevenue:
    coupon_code: str
    revenue: float
    orders: int
    avg_discount: float


@dataclass(frozen=True)
class RevenueByCoupon:
    coupons: list[CouponRevenue]
    days: int


@dataclass(frozen=True)
class DeviceRevenue:
    device_type: str
    revenue: float
    orders: int


@dataclass(frozen=True)
class RevenueByDevice:
    devices: list[DeviceRevenue]
    days: int


@dataclass(frozen=True)
class PlatformRevenue:
    platform: str
    revenue: float
    orders: int


@dataclass(frozen=True)
class RevenueByPlatform:
    platforms: list[PlatformRevenue]
    days: int


@dataclass(frozen=True)
class CountryRevenue:
    country: str
    revenue: float
    orders: int


@dataclass(frozen=True)
class RevenueByCountry:
    countries: list[CountryRevenue]
    days: int


@dataclass(frozen=True)
class JourneyItem:
    item_id: str
    item_name: str = ""
    price: float | None = None
    quantity: float | None = None


@dataclass(frozen=True)
class JourneyEvent:
    event_type: str
    timestamp: str
    items: list[JourneyItem] = field(default_factory=list)
    transaction_id: str = ""
    revenue: float | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UserJourney:
    events: list[JourneyEvent]
    user_id: str


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    """``cls`` built from the API's JSON object (fields the class does not know are left out)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_convert(item, v) for v in value]
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_json(hint, value)
    return value
