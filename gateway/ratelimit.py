"""Per-IP request rate limit in fixed one-minute windows, counted in Redis so gateway replicas share it.

Every request is counted in Redis, but not every request waits for its count. The gateway remembers the last
count Redis gave it for a client's window; when that count is more than a tenth of the limit (at least one
request) below it and none of the client's increments is on its way, the request goes on at once and its
increment is answered in the background (a client sending one request after another, as a dashboard or a shop
does, finds the answer arrived before its next request). Otherwise the request waits for its own count and is
judged by it; such counts are sent after the background one has landed, so one
gateway lets exactly `limit` requests a window through, however they arrive. With replicas, each may let one
request through on a count it has not yet seen the others add to, once per stale count. The round trip to
Redis is then off the path of most requests (~0.3-0.4 ms of a REST call here: docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from carthouse.logs import Throttled

log = logging.getLogger("carthouse.gateway.ratelimit")

TOO_MANY = "Too many requests. Please slow down."
WINDOW_SECONDS = 60
# Clients remembered per window; past this many (a flood of addresses) the memory starts over, which only
# means more requests wait for their count.
MAX_REMEMBERED = 100_000

_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


# Concurrent counts wait up to this long for one of the pool's connections (redis-py's default pool refuses the
# 101st at once, which failed the limit open for the rest of a burst) before the limit fails open.
MAX_CONNECTIONS = 100
REDIS_TIMEOUT_SECONDS = 0.5


def connect(url: str) -> aioredis.Redis:
    """The gateway's Redis client for counting."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return aioredis.Redis(connection_pool=pool)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """RateLimit-* on every answer; Retry-After as well on a refusal, which is what most HTTP clients
        (and our SDKs) wait for."""
        headers = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.reset_seconds).encode()))
        return headers


@dataclass
class _Window:
    """What this gateway knows of one client's count in the current window."""

    counted: int = 0  # the highest count Redis has answered
    waiting: int = 0  # increments sent by requests that wait for them
    background: asyncio.Task[None] | None = None  # the increment of a request that went on without waiting


class RateLimiter:
    def __init__(self, client: aioredis.Redis, limit: int, window_seconds: int = WINDOW_SECONDS) -> None:
        """``limit`` requests per client in each window of ``window_seconds`` (the product's is a minute)."""
        self._limit = limit
        self._window_seconds = window_seconds
        self._margin = max(1, limit // 10)
        self._script = client.register_script(_COUNT)
        self._warnings = Throttled(log)
        self._window = -1
        self._clients: dict[str, _Window] = {}

    async def check(self, client_ip: str) -> Decision:
        now = time.time()
        window = int(now // self._window_seconds)
        reset = self._window_seconds - int(now % self._window_seconds)
        known = self._known(client_ip, window)
        key = f"ratelimit:{client_ip}:{window}"
        quiet = known.background is None and known.waiting == 0
        if quiet and known.counted and known.counted + 1 <= self._limit - self._margin:
            # Nothing in flight: Redis's last answer counts every earlier request of this gateway.
            known.background = asyncio.create_task(self._count_in_background(key, known))
            return Decision(True, self._limit, self._limit - known.counted - 1, reset)
        known.waiting += 1
        try:
            if known.background is not None:  # it lands first, so the count below includes it
                await asyncio.wait([known.background])
            count = await self._increment(key, known)
        finally:
            known.waiting -= 1
        if count is None:
            return Decision(True, self._limit, self._limit, reset)
        return Decision(count <= self._limit, self._limit, max(0, self._limit - count), reset)

    def _known(self, client_ip: str, window: int) -> _Window:
        if window != self._window or len(self._clients) >= MAX_REMEMBERED:
            self._window = window
            self._clients = {}
        return self._clients.setdefault(client_ip, _Window())

    async def _count_in_background(self, key: str, known: _Window) -> None:
        try:
            await self._increment(key, known)
        finally:
            known.background = None

    async def _increment(self, key: str, known: _Window) -> int | None:
        """The client's count with this request (None when Redis cannot be reached: the limit fails open)."""
        try:
            count = int(await self._script(keys=[key], args=[self._window_seconds + 1]))
        except (RedisError, OSError) as exc:
            self._warnings.warning("redis", "rate limit not enforced, Redis unavailable: %s", exc)
            return None
        known.counted = max(known.counted, count)
        return count
