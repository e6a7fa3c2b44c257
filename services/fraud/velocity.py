"""Purchase velocity in Redis sorted sets scored by event time: a backfill of old orders is judged by when
they happened, not by how fast they arrive. Shared by every FraudService replica.

All the purchases of one Check are recorded and counted in one Lua call, their fields packed into a single
argument (one round trip and almost no client-side encoding per request). Members are transaction ids, so a
re-sent order is not counted twice. A key's entries older than KEEP_MS are trimmed now and then, and the
key expires KEEP_MS after its last purchase.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from carthouse.logs import Throttled

log = logging.getLogger("carthouse.fraud.velocity")

KEEP_MS = 2 * 24 * 3600 * 1000
TRIM_ABOVE = 256

# ARGV[1]: keep_ms; ARGV[2]: trim_above; ARGV[3]: "key\tmember\tat_ms\twindow_ms" lines.
# Returns "n1,n2,...": per line, the entries of key in (at - window, at] after adding member (one string, not
# an array: parsing a reply element costs the client more than the count itself).
_RECORD_AND_COUNT = """
local keep = tonumber(ARGV[1])
local trim_above = tonumber(ARGV[2])
local counts = {}
for key, member, at, window in string.gmatch(ARGV[3], "([^\\t\\n]+)\\t([^\\t\\n]*)\\t(%d+)\\t(%d+)") do
  at = tonumber(at)
  if redis.call('ZADD', key, at, member) == 1 and redis.call('ZCARD', key) > trim_above then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', at - keep)
  end
  redis.call('PEXPIRE', key, keep)
  counts[#counts + 1] = redis.call('ZCOUNT', key, at - tonumber(window) + 1, at)
end
return table.concat(counts, ",")
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


def _field(text: str) -> str:
    """Tabs and newlines separate the packed fields; ids never need them."""
    return text.replace("\t", " ").replace("\n", " ")


class VelocityCounter:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_RECORD_AND_COUNT)
        self._warnings = Throttled(log)

    def record_and_count(self, windows: Sequence[Window]) -> list[int]:
        """Record every purchase and answer, per window, the purchases in it (itself included)."""
        if not windows:
            return []
        packed = "\n".join(f"{_field(w.key)}\t{_field(w.member)}\t{w.at_ms}\t{w.window_ms}" for w in windows)
        try:
            reply = self._script(keys=[], args=[KEEP_MS, TRIM_ABOVE, packed])
        except redis.RedisError as exc:
            self._warnings.warning("redis", "velocity rule skipped, Redis unavailable: %s", exc)
            raise VelocityUnavailable(str(exc)) from exc
        return [int(count) for count in reply.split(b",")]
