"""Plain Python forms of what a client sends; the servicer builds these from protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class IncomingItem:
    item_id: str = ""
    item_name: str = ""
    item_category: str = ""
    item_brand: str = ""
    item_variant: str = ""
    item_list_name: str = ""
    item_list_id: str = ""
    item_image_url: str = ""
    price: float | None = None
    quantity: float | None = None
    currency: str = ""
    coupon_code: str = ""
    discount: float | None = None


@dataclass(slots=True)
class IncomingEvent:
    event_type: str = ""
    transaction_id: str = ""
    revenue: float | None = None
    currency: str = ""
    user_id: str = ""
    cart_id: str = ""
    coupon_code: str = ""
    discount: float | None = None
    shipping: float | None = None
    tax: float | None = None
    items: list[IncomingItem] = field(default_factory=list)
    # Values as sent: str, float or bool (anything else is a validation error).
    properties: dict[str, object] = field(default_factory=dict)
    timestamp: str = ""
    event_id: str = ""
    anonymous_id: str = ""
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the transport tells about the request (the gateway forwards these as metadata)."""

    ip: str = ""
    user_agent: str = ""
