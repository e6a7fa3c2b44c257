"""Monthly ecommerce event quota per appspace, counted in Redis (fails open when Redis is down)."""

from __future__ import annotations

import logging
from datetime import datetime

import redis

from carthouse.errors import ResourceExhausted
from carthouse.logs import Throttled

log = logging.getLogger("carthouse.ingest.quota")

QUOTA_EXCEEDED = "Ecommerce event quota exceeded"
QUOTA_TTL_SECONDS = 40 * 24 * 3600

# Adds n unless that would pass the limit; returns the new count, or -1 when refused.
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if used + n > tonumber(ARGV[2]) then return -1 end
local total = redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return total
"""


def quota_key(appspace_id: str, now: datetime) -> str:
    return f"quota:{appspace_id}:{now:%Y%m}"


class Quota:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._reserve = client.register_script(_RESERVE)
        self._warnings = Throttled(log)

    def reserve(self, appspace_id: str, count: int, limit: int | None, now: datetime) -> None:
        """Count ``count`` events against this month's quota, or raise without counting any."""
        if limit is None or count == 0:
            return
        try:
            total = self._reserve(keys=[quota_key(appspace_id, now)], args=[count, limit, QUOTA_TTL_SECONDS])
        except redis.RedisError as exc:
            self._warnings.warning("redis", "quota not enforced, Redis unavailable: %s", exc)
            return
        if int(total) < 0:
            raise ResourceExhausted(QUOTA_EXCEEDED, error_code="USAGE_EXCEEDED")
