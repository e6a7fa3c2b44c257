"""Attribution from the touches the last-touch worker stores with each purchase (migration 0021) against
attribution from the touches themselves, on random shop data: several users' touches over four months with
flagged ones, touches of equal moments, purchases carrying their own campaign, and touches that arrive after
the purchases they precede."""

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from carthouse.store import Store
from carthouse.store.migrate import migration_files
from services.analytics.last_touches import ATTRIBUTION_LOOKBACK_MS, store_round
from services.analytics.queries import attribution
from services.analytics.queries.channels import pending_buyers
from services.analytics.queries.scope import JOINS_AS_WRITTEN, scope_params

NOW = datetime.now(UTC).replace(microsecond=0)
CHANNELS = [("spring", "google", "cpc"), ("spring", "meta", "social"), ("autumn", "news", "email"),
            ("winter", "google", "cpc"), ("sale", "", "")]
COLUMNS = ["appspace_id", "event_time", "event_id", "event_type", "user_id", "revenue", "properties",
           "fraud_severity", "seq"]


def _row(appspace: str, at: datetime, kind: str, user: str, seq: int, rng: random.Random,
         campaign: tuple[str, str, str] | None) -> bytes:
    properties = dict(zip(("utm_campaign", "utm_source", "utm_medium"), campaign, strict=True)) if campaign else {}
    return json.dumps([appspace, at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], str(uuid.uuid4()), kind, user,
                       rng.randint(1, 50_000) if kind == "purchase" else None, properties,
                       int(rng.random() < 0.15), seq]).encode()


def _history(appspace: str, rng: random.Random, users: int, late: bool) -> list[bytes]:
    """A group of events: per user a few touches and purchases over the last 120 days (``late``: touches only,
    older than the purchases stored before)."""
    rows = []
    for number in range(users):
        user = f"u{number}"
        shared = NOW - timedelta(days=rng.uniform(1, 120))  # two touches of one moment, sent in one request
        for seq in range(rng.randint(0, 6)):
            at = shared if seq < 2 else NOW - timedelta(days=rng.uniform(1, 120), milliseconds=rng.randint(0, 999))
            rows.append(_row(appspace, at, "view_item", user, seq, rng, rng.choice(CHANNELS)))
        if late:
            continue
        for seq in range(rng.randint(0, 3)):
            own = rng.choice(CHANNELS) if rng.random() < 0.2 else None
            rows.append(_row(appspace, NOW - timedelta(days=rng.uniform(0.5, 100)), "purchase", user, seq, rng, own))
    return rows


def _credited(store: Store, params: dict, model: str, window: int, pending: bool) -> list[tuple]:
    """The statement's rows, with every buyer pending (from touches) or none (from the stored touches)."""
    buyers = store.query("SELECT DISTINCT user_id, cityHash64(user_id) AS user_key FROM purchase_channels "
                         "WHERE appspace_id = {appspace:String} AND user_id != ''", params)
    bound = {"pending_round": [b["user_id"] for b in buyers] if pending else [],
             "pending_keys": [int(b["user_key"]) for b in buyers] if pending else []}
    sql = attribution._with(model, window, pending) + f"""
SELECT channel_key, sum(toInt128(credit)) AS revenue_minor, round(sum(order_share), 9) AS order_credit,
       countIf(position = 1) AS first_channel_orders
FROM credits GROUP BY channel_key ORDER BY channel_key
SETTINGS {JOINS_AS_WRITTEN}"""
    return [tuple(row.values()) for row in store.query(sql, {**params, **bound})]


def _both_ways(store: Store, appspace: str) -> int:
    """Asserts both ways give the same rows for every model, window, range and flag setting; answers how many
    rows were compared."""
    compared = 0
    for days in (30, 365):
        since = datetime.combine(NOW.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
        for include_flagged in (False, True):
            params = scope_params(store, appspace, since, NOW + timedelta(days=1), include_flagged)
            for model in attribution.MODELS:
                for window in attribution.WINDOWS:
                    stored = _credited(store, params, model, window, pending=False)
                    assert stored == _credited(store, params, model, window, pending=True), (days, model, window)
                    compared += len(stored)
    return compared


def test_stored_touches_give_the_attribution_of_the_touches_themselves(store: Store) -> None:
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    rng = random.Random(2026)
    store.insert_rows("events_ingest", COLUMNS, _history(appspace, rng, users=40, late=False))
    store_round(store, margin=timedelta(0))
    assert _both_ways(store, appspace) > 300

    # Touches older than the purchases they precede, arriving after them: the users are pending until a round,
    # and attribution() reads them from their touches meanwhile.
    store.insert_rows("events_ingest", COLUMNS, _history(appspace, rng, users=40, late=True))
    since = datetime.combine(NOW.date() - timedelta(days=364), datetime.min.time(), UTC)
    params = scope_params(store, appspace, since, NOW + timedelta(days=1), False)
    assert len(pending_buyers(store, params)["pending_round"]) > 20
    before_round = attribution.attribution(store, params, "linear", 90)
    store_round(store, margin=timedelta(0))
    assert pending_buyers(store, params)["pending_round"] == []
    assert _rounded(attribution.attribution(store, params, "linear", 90)) == _rounded(before_round)
    assert _both_ways(store, appspace) > 300


def _rounded(answer: dict) -> dict:
    return {**answer, "channels": [{**row, "order_credit": round(row["order_credit"], 9)}
                                   for row in answer["channels"]]}


def test_purchases_keep_the_touches_of_the_longest_window() -> None:
    assert max(attribution.WINDOWS) * 24 * 3600 * 1000 == ATTRIBUTION_LOOKBACK_MS
    # The migration's backfill looks back as far as the worker.
    sql = next(text for version, _, text in migration_files() if version == 21)
    assert sql.count(f"- {ATTRIBUTION_LOOKBACK_MS})") == 2


def test_the_migration_stores_what_the_worker_stores(store: Store) -> None:
    """Migration 0021's backfill, run on purchases the worker has reached, gives each the same touches."""
    appspace = f"as_{uuid.uuid4().hex[:12]}"
    store.insert_rows("events_ingest", COLUMNS, _history(appspace, random.Random(7), users=30, late=False))
    store_round(store, margin=timedelta(0))
    sql = next(text for version, _, text in migration_files() if version == 21)
    insert = next(s for s in sql.split(";") if "INSERT INTO purchase_channels" in s)
    store.execute("CREATE TABLE IF NOT EXISTS purchase_channels_backfill AS purchase_channels")
    store.execute(insert.replace("INSERT INTO purchase_channels (", "INSERT INTO purchase_channels_backfill (", 1))

    def touches(table: str) -> list[dict]:
        return store.query(f"SELECT event_id, max(touches) AS touches, max(clean_touches) AS clean FROM {table} "
                           "WHERE appspace_id = {a:String} GROUP BY event_id ORDER BY event_id", {"a": appspace})

    from_worker = touches("purchase_channels")
    assert sum(len(row["touches"]) > len(row["clean"]) for row in from_worker) > 3  # flagged touches left out
    assert touches("purchase_channels_backfill") == from_worker
