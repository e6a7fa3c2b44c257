"""Per-IP request rate limit in fixed one-minute windows, counted in Redis so gateway replicas share it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("carthouse.gateway.ratelimit")

TOO_MANY = "Too many requests. Please slow down."
WINDOW_SECONDS = 60

_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]


class RateLimiter:
    def __init__(self, client: aioredis.Redis, limit_per_minute: int) -> None:
        self._client = client
        self._limit = limit_per_minute
        self._count = client.register_script(_COUNT)
        self._last_warning = 0.0

    async def check(self, client_ip: str) -> Decision:
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        reset = WINDOW_SECONDS - int(now % WINDOW_SECONDS)
        try:
            count = int(await self._count(keys=[f"ratelimit:{client_ip}:{window}"], args=[WINDOW_SECONDS + 1]))
        except (RedisError, OSError) as exc:
            if now - self._last_warning > 10:
                self._last_warning = now
                log.warning("rate limit not enforced, Redis unavailable: %s", exc)
            return Decision(True, self._limit, self._limit, reset)
        return Decision(count <= self._limit, self._limit, max(0, self._limit - count), reset)
