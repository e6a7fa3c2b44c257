"""GA4's BigQuery export (one event per NDJSON line) as Carthouse events, for `carthouse import --format ga4`.

The mapping (docs/IMPORT.md has it as a table): GA4's ecommerce events keep their names (view_item, add_to_cart,
remove_from_cart, add_to_wishlist, view_cart, begin_checkout, add_payment_info, purchase, refund) and search and
share; other events (page_view, session_start, …) are not ecommerce and are skipped. event_timestamp
(microseconds) is the timestamp; user_id and user_pseudo_id the user and anonymous ids; ecommerce.transaction_id,
purchase_revenue (refund_value for refunds), tax_value, shipping_value; the currency event parameter; items with
their fields (coupon → coupon_code); the campaign, source and medium of the event's collected_traffic_source,
else of the user's first visit (traffic_source); device.category and operating_system (lower case; Macintosh is
macos) as context. geo.country is left out: GA4 exports country names, the API takes ISO codes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ECOMMERCE_EVENTS = {"view_item", "add_to_cart", "remove_from_cart", "add_to_wishlist", "view_cart",
                    "begin_checkout", "add_payment_info", "purchase", "refund", "search", "share"}
ITEM_FIELDS = {"item_id": "item_id", "item_name": "item_name", "item_category": "item_category",
               "item_brand": "item_brand", "item_variant": "item_variant", "item_list_name": "item_list_name",
               "item_list_id": "item_list_id", "price": "price", "quantity": "quantity", "coupon": "coupon_code"}
# A GA4 item's empty values are "(not set)" rather than missing.
NOT_SET = (None, "", "(not set)")


def params_of(row: dict[str, Any]) -> dict[str, Any]:
    """event_params, [{key, value: {string_value | int_value | double_value | float_value}}], as a dict."""
    found: dict[str, Any] = {}
    for param in row.get("event_params") or []:
        value = param.get("value") or {}
        for kind in ("string_value", "int_value", "double_value", "float_value"):
            if value.get(kind) not in (None, ""):
                found[param.get("key", "")] = value[kind]
                break
    return found


def _campaign(row: dict[str, Any]) -> dict[str, str]:
    collected = row.get("collected_traffic_source") or {}
    first = row.get("traffic_source") or {}
    pairs = [("campaign", collected.get("manual_campaign_name"), first.get("name")),
             ("source", collected.get("manual_source"), first.get("source")),
             ("medium", collected.get("manual_medium"), first.get("medium"))]
    found = {name: now if now not in NOT_SET else then for name, now, then in pairs}
    if found["campaign"] in NOT_SET or str(found["campaign"]).startswith("("):  # (direct), (organic), (referral)
        return {}
    return {name: str(value) for name, value in found.items() if value not in NOT_SET}


def _items(row: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for item in row.get("items") or []:
        mapped = {ours: item[theirs] for theirs, ours in ITEM_FIELDS.items() if item.get(theirs) not in NOT_SET}
        if mapped.get("item_id"):
            items.append(mapped)
    return items


def event_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """The Carthouse event (the batch API's JSON shape) of one GA4 export row; None when it is not ecommerce."""
    name = row.get("event_name")
    if name not in ECOMMERCE_EVENTS:
        return None
    params = params_of(row)
    commerce = row.get("ecommerce") or {}
    event: dict[str, Any] = {"event_type": name}
    if row.get("event_timestamp"):
        moment = datetime.fromtimestamp(int(row["event_timestamp"]) / 1_000_000, UTC)
        event["timestamp"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for ours, value in (("user_id", row.get("user_id")), ("anonymous_id", row.get("user_pseudo_id")),
                        ("transaction_id", commerce.get("transaction_id") or params.get("transaction_id")),
                        ("currency", params.get("currency")), ("coupon_code", params.get("coupon"))):
        if value not in NOT_SET:
            event[ours] = str(value)
    revenue = commerce.get("refund_value") if name == "refund" else commerce.get("purchase_revenue")
    if revenue is None:
        revenue = params.get("value")
    if revenue is not None and name in ("purchase", "refund"):
        event["revenue"] = float(revenue)
    for ours, theirs in (("tax", "tax_value"), ("shipping", "shipping_value")):
        if commerce.get(theirs) is not None:
            event[ours] = float(commerce[theirs])
    if items := _items(row):
        event["items"] = items
    properties = _campaign(row)
    for key in ("search_term", "item_id", "method", "content_type"):
        if params.get(key) not in NOT_SET:
            properties[key] = str(params[key])
    if properties:
        event["properties"] = properties
    device = row.get("device") or {}
    platform = str(device.get("operating_system") or "").lower().replace("macintosh", "macos")
    context = {"device_type": str(device.get("category") or "").lower(), "platform": platform}
    if context := {k: v for k, v in context.items() if v not in NOT_SET}:
        event["context"] = context
    return event
