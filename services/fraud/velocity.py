"""Purchase velocity in Redis sorted sets scored by event time: a backfill of old orders is judged by when
they happened, not by how fast they arrive. Shared by every FraudService replica.

All the purchases of one Check are counted in one Lua call (one round trip per request, not per event).
Members are transaction ids, so a re-sent order is not counted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis

log = logging.getLogger("carthouse.fraud.velocity")

KEEP_MS = 2 * 24 * 3600 * 1000

# KEYS: one sorted set per entry; ARGV: keep_ms, then (member, at_ms, window_ms) per entry.
# Returns the count in (at - window, at] of each key after adding its member.
_RECORD_AND_COUNT = """
local keep = tonumber(ARGV[1])
local counts = {}
for i, key in ipairs(KEYS) do
  local member = ARGV[3 * i - 1]
  local at = tonumber(ARGV[3 * i])
  local window = tonumber(ARGV[3 * i + 1])
  redis.call('ZADD', key, at, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', at - keep)
  redis.call('PEXPIRE', key, keep)
  counts[i] = redis.call('ZCOUNT', key, at - window + 1, at)
end
return counts
"""


@dataclass(frozen=True, slots=True)
class Window:
    """One purchase to record in ``key`` and count over the ``window_ms`` before it."""

    key: str
    member: str
    at_ms: int
    window_ms: int


class VelocityUnavailable(RuntimeError):
    """Redis cannot be reached; the velocity rule is skipped."""


class VelocityCounter:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_RECORD_AND_COUNT)
        self._last_warning = 0.0

    def record_and_count(self, windows: Sequence[Window]) -> list[int]:
        """Record every purchase and answer, per window, the purchases in it (itself included)."""
        if not windows:
            return []
        args: list[object] = [KEEP_MS]
        for window in windows:
            args += (window.member, window.at_ms, window.window_ms)
        try:
            return [int(count) for count in self._script(keys=[w.key for w in windows], args=args)]
        except redis.RedisError as exc:
            if time.monotonic() - self._last_warning > 10:
                self._last_warning = time.monotonic()
                log.warning("velocity rule skipped, Redis unavailable: %s", exc)
            raise VelocityUnavailable(str(exc)) from exc
