"""A realistic data set of N events (default 10 million) written straight into a Carthouse data directory, in
ClickHouse (INSERT … SELECT over numbers(), through the same events_ingest table and materialized views ingest
uses), so that the query benchmarks have something to chew on in minutes rather than hours.

    .venv/bin/python bench/generate.py --data-dir /tmp/carthouse-10m [--events 10000000]

Shape: one large appspace (70 % of sessions) among four smaller ones; 90 days (--days); 200,000 users in the large one;
events come in visits (sessions of 1-7 events, 4 on average, a minute or so apart, one user, device and
country each), the way shoppers produce them; within a visit the events follow the funnel's order (views and
searches, then add_to_cart, view_cart, begin_checkout, add_payment_info, purchase). Event types over all
events: view_item 45 %, add_to_cart 15 %, …, purchase 4 %, refunds 0.3 %. Products Zipf-like over 5,000 SKUs;
USD/EUR/GBP/JPY orders converted to USD; campaign landings: a visit that opens on a product view comes from a
utm-tagged campaign (20 campaigns) with probability 0.55, about 11 % of events; devices, platforms and 12
countries; 0.2 % of orders fraud-flagged. Writes the appspaces and a secret key per appspace (keys.json in the
data dir) for bench/query.py. Deterministic for a given N. Every table is merged at the end (OPTIMIZE …
FINAL), as background merges leave a store that has been running for a while.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from carthouse.config import Settings  # noqa: E402
from carthouse.store import open_store  # noqa: E402
from carthouse.store.base import ONE_BLOCK  # noqa: E402
from carthouse.store.migrate import migrate  # noqa: E402
from carthouse.tenancy.repository import TenancyRepository  # noqa: E402
from services.admin.appspaces import AppspaceAdmin  # noqa: E402
from services.analytics import cart_states, funnel_reach  # noqa: E402
from services.analytics.last_touches import store_round  # noqa: E402
from services.ingest.rows import EVENT_COLUMNS  # noqa: E402
from tests.support.stack_process import machine_line  # noqa: E402

CHUNK = 1_000_000
DEFAULT_DAYS = 90
USERS = 200_000
SKUS = 5_000
# The tables events_ingest's views fill (touch_channels through touches' view).
MERGED = ("events", "event_items", "event_properties", "touches", "touch_channels", "cart_activity", "actor_hours",
          "funnel_steps", "purchase_channels", "funnel_reach", "cart_states")
# Eight consecutive event numbers make a slot holding two visits: its first 1-7 events (drawn per slot) and
# the rest.
SLOT = 8
CAMPAIGN_LANDINGS = 0.55
# Funnel order inside a visit (views and searches first; a refund, when drawn, comes last).
FUNNEL_RANK = ("['view_item', 'search', 'add_to_cart', 'remove_from_cart', 'view_cart', 'begin_checkout', "
               "'add_payment_info', 'purchase', 'refund']")


def r(k: int) -> str:
    """A uniform number in [0, 1) derived from the row number and a salt: the same N gives the same data."""
    return f"(cityHash64(number, {k}) % 1000000) / 1000000.0"


def rs(k: int) -> str:
    """A uniform number in [0, 1) for the row's visit: the same for every event of the visit."""
    return f"(cityHash64(visit, {k}) % 1000000) / 1000000.0"


def kind_of(number: str) -> str:
    """The event type drawn for an event number: the funnel's drop-off over all events."""
    u = f"(cityHash64({number}, 4) % 1000000) / 1000000.0"
    return (f"multiIf({u} < 0.45, 'view_item', {u} < 0.60, 'add_to_cart', {u} < 0.63, 'remove_from_cart', "
            f"{u} < 0.73, 'view_cart', {u} < 0.80, 'begin_checkout', {u} < 0.85, 'add_payment_info', "
            f"{u} < 0.89, 'purchase', {u} < 0.893, 'refund', 'search')")


def event_sql(appspaces: list[str], days: int) -> str:
    big, *small = appspaces
    appspace = f"multiIf({rs(1)} < 0.70, '{big}', " + ", ".join(
        f"{rs(1)} < {0.70 + 0.075 * (i + 1):.3f}, '{a}'" for i, a in enumerate(small[:-1])) + f", '{small[-1]}')"
    # The visit's event types are the types drawn for its event numbers, put in funnel order: the same mix of
    # types as independent draws, in the order a shopper produces them.
    ordered = (f"arraySort(n -> indexOf({FUNNEL_RANK}, {kind_of('n')}) * {SLOT} + n % {SLOT}, "
               f"range(first_number, first_number + visit_length))[position + 1]")
    kind = kind_of(ordered)
    sku = f"toUInt32(pow({r(20)} + i * 0.001, 3) * {SKUS}) % {SKUS}"
    return f"""
SELECT
    appspace AS appspace_id,
    at AS event_time,
    NULL AS event_id,
    '' AS client_event_id,
    kind AS event_type,
    user AS user_id,
    '' AS anonymous_id,
    if(kind IN ('add_to_cart', 'remove_from_cart', 'view_cart', 'begin_checkout', 'purchase'),
       concat('c-', user, '-', toString(toDate(at))), '') AS cart_id,
    multiIf(kind = 'purchase', concat('o', toString(number)),
            kind = 'refund', concat('o', toString(cityHash64(number, 5) % {{offset_end:UInt64}})), '')
        AS transaction_id,
    multiIf(kind = 'purchase', toInt64(500 + cityHash64(number, 6) % 30000),
            kind = 'refund', toInt64(500 + cityHash64(number, 6) % 5000), NULL) AS revenue,
    if(kind = 'purchase' AND coupon != '', 500, 0) AS discount,
    if(kind = 'purchase', 499, 0) AS shipping,
    if(kind = 'purchase', toInt64(ifNull(revenue, 0) * 0.08), 0) AS tax,
    currency,
    if(revenue IS NULL, NULL, toDecimal128(revenue / 100 / rate, 9)) AS revenue_original,
    toDecimal128(discount / 100 / rate, 9) AS discount_original,
    toDecimal128(shipping / 100 / rate, 9) AS shipping_original,
    toDecimal128(tax / 100 / rate, 9) AS tax_original,
    toDecimal128(rate, 18) AS fx_rate,
    if(kind = 'purchase', coupon, '') AS coupon_code,
    arrayMap(i -> concat('sku_', toString({sku})), range(item_count)) AS `items.item_id`,
    arrayMap(i -> concat('Product ', toString({sku})), range(item_count)) AS `items.item_name`,
    arrayMap(i -> concat('Category ', toString(({sku}) % 40)), range(item_count)) AS `items.item_category`,
    arrayMap(i -> '', range(item_count)) AS `items.item_brand`,
    arrayMap(i -> '', range(item_count)) AS `items.item_variant`,
    arrayMap(i -> '', range(item_count)) AS `items.item_list_name`,
    arrayMap(i -> '', range(item_count)) AS `items.item_list_id`,
    arrayMap(i -> '', range(item_count)) AS `items.item_image_url`,
    arrayMap(i -> toNullable(toInt64(199 + (({sku}) * 37) % 20000)), range(item_count)) AS `items.price`,
    arrayMap(i -> toNullable(toDecimal128((199 + (({sku}) * 37) % 20000) / 100 / rate, 9)), range(item_count))
        AS `items.price_original`,
    arrayMap(i -> toInt32(1 + (cityHash64(number, 30 + i) % 3)), range(item_count)) AS `items.quantity`,
    arrayMap(i -> currency, range(item_count)) AS `items.currency`,
    arrayMap(i -> '', range(item_count)) AS `items.coupon_code`,
    arrayMap(i -> toInt64(0), range(item_count)) AS `items.discount`,
    if(kind = 'view_item' AND position = 0 AND {rs(8)} < {CAMPAIGN_LANDINGS},
       map('campaign', concat('campaign-', toString(cityHash64(visit, 9) % 20)),
           'source', ['email', 'google', 'facebook', 'newsletter'][1 + cityHash64(visit, 10) % 4],
           'medium', ['email', 'cpc', 'social', 'referral'][1 + cityHash64(visit, 10) % 4]),
       map()) AS properties,
    concat('81.', toString(cityHash64(user) % 200), '.1.1') AS ip,
    '' AS user_agent,
    ['US', 'GB', 'DE', 'FR', 'NL', 'ES', 'IT', 'CA', 'AU', 'JP', 'BR', 'IN'][
        1 + toUInt8(pow((cityHash64(user, 11) % 1000000) / 1000000.0, 2) * 12)] AS country,
    multiIf({rs(12)} < 0.55, 'mobile', {rs(12)} < 0.90, 'desktop', 'tablet') AS device_type,
    multiIf(device_type = 'desktop', 'web', {rs(13)} < 0.5, 'ios', 'android') AS platform,
    'en' AS locale,
    'secret' AS key_kind,
    if(kind = 'purchase' AND {r(14)} < 0.002, 1, 0) AS fraud_severity,
    if(fraud_severity = 1, ['revenue_above_ceiling'], []) AS fraud_reasons,
    at AS received_at,
    toUInt8(0) AS seq
FROM (
    SELECT number, visit, position, first_number, visit_length,
           {appspace} AS appspace,
           -- A visit starts at a random moment of the range's days (ending ten minutes ago, so that no event of it lies
           -- in the future) and its events follow each other 60-100 s apart.
           now64(3) - toIntervalMillisecond(600000 + toUInt64({rs(2)} * {days} * 86400000))
               + toIntervalMillisecond(position * 60000 + cityHash64(number, 41) % 40000) AS at,
           concat('u', toString(cityHash64(visit, 3) % {USERS})) AS user,
           {kind} AS kind,
           multiIf({r(7)} < 0.85, 'USD', {r(7)} < 0.93, 'EUR', {r(7)} < 0.98, 'GBP', 'JPY') AS currency,
           multiIf(currency = 'USD', 1.0, currency = 'EUR', 1.08, currency = 'GBP', 1.27, 0.0067) AS rate,
           if(kind IN ('view_item', 'add_to_cart', 'remove_from_cart', 'purchase'),
              1 + toUInt8(cityHash64(number, 15) % 3), 0) AS item_count,
           if({r(16)} < 0.1, ['SAVE10', 'WELCOME', 'BLACKFRIDAY'][1 + cityHash64(number, 17) % 3], '') AS coupon
    FROM (
        SELECT number, intDiv(number, {SLOT}) AS slot, toUInt64(1 + cityHash64(slot, 40) % {SLOT - 1}) AS split,
               number % {SLOT} >= split AS in_second,
               slot * 2 + in_second AS visit,
               toUInt64(slot * {SLOT} + in_second * split) AS first_number,
               toUInt64(if(in_second, {SLOT} - split, split)) AS visit_length,
               toUInt64(number - first_number) AS position
        FROM numbers({{offset:UInt64}}, {{count:UInt64}})
    )
)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="a Carthouse data dir (created if missing)")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="the days the events spread over, ending now "
                        f"(default {DEFAULT_DAYS}; 365 for the long-range query benchmark)")
    args = parser.parse_args()
    started = time.perf_counter()
    store = open_store(Settings(data_dir=args.data_dir))
    migrate(store)
    admin = AppspaceAdmin(TenancyRepository(store))
    created = [admin.create_appspace(name, "enterprise", "USD", "UTC")
               for name in ("big shop", "small 1", "small 2", "small 3", "small 4")]
    keys = [{"appspace_id": c.appspace.appspace_id, "name": c.appspace.name, "secret_key": c.secret.api_key}
            for c in created]
    (args.data_dir / "keys.json").write_text(json.dumps(keys, indent=2))
    # Each chunk one block, as ingest writes a group (base.ONE_BLOCK explains why).
    sql = f"INSERT INTO events_ingest ({', '.join(f'`{c}`' for c in EVENT_COLUMNS)})" + event_sql(
        [k["appspace_id"] for k in keys], args.days) + f"\nSETTINGS {ONE_BLOCK}"
    for offset in range(0, args.events, CHUNK):
        count = min(CHUNK, args.events - offset)
        store.execute(sql, {"offset": offset, "count": count, "offset_end": max(offset + count, 1)})
        print(f"  {offset + count:>11,} / {args.events:,} events  ({time.perf_counter() - started:.0f} s)", flush=True)
    # What the analytics service's background worker does for arriving events (services/analytics/last_touches.py).
    print(f"  storing last touches of {store_round(store, margin=timedelta(0)):,} users", flush=True)
    print(f"  storing the funnel reach of {funnel_reach.store_round(store, margin=timedelta(0)):,} actors", flush=True)
    print("  judging every cart", flush=True)
    cart_states.store_round(store, margin=timedelta(0))
    for table in MERGED:
        print(f"  merging {table}", flush=True)
        store.execute(f"OPTIMIZE TABLE {table} FINAL")
    stored = store.scalar("SELECT count() FROM events")
    print(f"\n{stored:,} events in {time.perf_counter() - started:.0f} s into {args.data_dir}; "
          f"keys in {args.data_dir / 'keys.json'}")
    print(machine_line())
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
