"""Where rate tables live once fetched: an in-process cache, Redis (shared by replicas, with the provider's
period as lifetime) and ClickHouse's fx_rates (durable). The provider is asked only when all three miss."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

import redis

from carthouse.store import Store
from services.fx.rates import RateProvider, RateTable

log = logging.getLogger("carthouse.fx")

REDIS_TTL_SECONDS = 2 * 24 * 3600

SELECT_TABLE = """
SELECT currency, toString(rate) AS rate
FROM fx_rates FINAL
WHERE provider = {provider:String} AND pivot = {pivot:String} AND as_of = {as_of:DateTime64(3, 'UTC')}
"""
INSERT_ROW = "({provider:String}, {pivot:String}, {as_of:DateTime64(3, 'UTC')}, {c%d:String}, {r%d:Decimal(38, 18)})"


def _redis_key(provider: str, pivot: str, as_of: datetime) -> str:
    return f"fx:{provider}:{pivot}:{as_of:%Y-%m-%dT%H}"


class RateRepository:
    def __init__(self, provider: RateProvider, store: Store, client: redis.Redis) -> None:
        self.provider = provider
        self._store = store
        self._redis = client
        self._memory: dict[datetime, RateTable] = {}

    def table_for(self, moment: datetime) -> RateTable | None:
        """The rates valid at ``moment``: from memory, Redis or fx_rates, else fetched and written back."""
        period = self.provider.period_of(moment)
        if period is None:
            return None
        as_of, stale = period
        table = self._memory.get(as_of) or self._cached(as_of)
        if table is None:
            table = self.provider.fetch(as_of)
            self._save(table)
        self._memory[as_of] = table
        return RateTable(table.provider, table.pivot, table.as_of, table.rates, stale) if stale else table

    def _cached(self, as_of: datetime) -> RateTable | None:
        provider, pivot = self.provider.name, self.provider.pivot
        try:
            stored = self._redis.hgetall(_redis_key(provider, pivot, as_of))
        except redis.RedisError as exc:
            log.warning("FX cache in Redis unavailable: %s", exc)
            stored = {}
        if stored:
            return RateTable(provider, pivot, as_of, {k.decode(): Decimal(v.decode()) for k, v in stored.items()})
        rows = self._store.query(SELECT_TABLE, {"provider": provider, "pivot": pivot,
                                                "as_of": as_of.replace(tzinfo=None)})
        if not rows:
            return None
        table = RateTable(provider, pivot, as_of, {row["currency"]: Decimal(row["rate"]) for row in rows})
        self._to_redis(table)
        return table

    def _save(self, table: RateTable) -> None:
        params: dict[str, object] = {"provider": table.provider, "pivot": table.pivot,
                                     "as_of": table.as_of.replace(tzinfo=None)}
        values = []
        for index, (currency, rate) in enumerate(sorted(table.rates.items())):
            params[f"c{index}"] = currency
            params[f"r{index}"] = str(rate)
            values.append(INSERT_ROW % (index, index))
        self._store.execute(
            "INSERT INTO fx_rates (provider, pivot, as_of, currency, rate) VALUES " + ", ".join(values), params
        )
        self._to_redis(table)
        log.info("FX rates of %s from %s stored (%d currencies)", table.as_of.date(), table.provider,
                 len(table.rates))

    def _to_redis(self, table: RateTable) -> None:
        key = _redis_key(table.provider, table.pivot, table.as_of)
        try:
            self._redis.hset(key, mapping={code: str(rate) for code, rate in table.rates.items()})
            self._redis.expire(key, REDIS_TTL_SECONDS)
        except redis.RedisError as exc:
            log.warning("FX cache in Redis unavailable: %s", exc)

