"""Purchase velocity in Redis sorted sets scored by event time: a backfill of old orders is judged by when
they happened, not by how fast they arrive. Shared by every FraudService replica."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

import redis

log = logging.getLogger("carthouse.fraud.velocity")

KEEP_SECONDS = 2 * 24 * 3600


class VelocityUnavailable(RuntimeError):
    """Redis cannot be reached; the velocity rule is skipped."""


class VelocityCounter:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._last_warning = 0.0

    def record_and_count(self, key: str, moment: datetime, window_seconds: int) -> int:
        """Record one purchase at ``moment`` and count those in (moment - window, moment], itself included."""
        at_ms = int(moment.timestamp() * 1000)
        pipe = self._client.pipeline(transaction=True)
        pipe.zadd(key, {f"{at_ms}:{uuid.uuid4().hex}": at_ms})
        pipe.zcount(key, at_ms - window_seconds * 1000 + 1, at_ms)
        pipe.expire(key, KEEP_SECONDS)
        try:
            _, count, _ = pipe.execute()
        except redis.RedisError as exc:
            if time.monotonic() - self._last_warning > 10:
                self._last_warning = time.monotonic()
                log.warning("velocity rule skipped, Redis unavailable: %s", exc)
            raise VelocityUnavailable(str(exc)) from exc
        return int(count)
