"""The one expiring cache: read-through, thread-safe, refreshed ahead of expiry (pure functions use
functools.lru_cache instead)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Generic, TypeVar

log = logging.getLogger("carthouse.cache")
# One thread reloads entries in the background for every cache of the process; a reload is one small query.
_REFRESHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-refresh")

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small thread-safe read-through cache whose entries (misses included) are served for ``ttl`` seconds from
    the start of the load that read them. An entry past half that age is still served, and reloaded in the
    background once (refresh-ahead); a failed reload is logged and the entry expires as usual, when the next
    request loads it itself and meets the error."""

    def __init__(self, load: Callable[[K], V], ttl: float, clock: Callable[[], float] = time.monotonic,
                 reloads: Executor = _REFRESHER) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._reloads = reloads
        self._entries: dict[K, tuple[float, V]] = {}
        self._reloading: set[K] = set()
        self._lock = threading.Lock()

    def get(self, key: K) -> V:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl:
            if now - entry[0] >= self._ttl / 2:
                self._reload_in_background(key, entry[0])
            return entry[1]
        value = self._load(key)
        self._store(key, now, value)
        return value

    def _store(self, key: K, loaded_at: float, value: V) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            current = self._entries.get(key)
            if current is None or current[0] <= loaded_at:  # an older read never replaces a newer one
                self._entries[key] = (loaded_at, value)

    def _reload_in_background(self, key: K, seen_at: float) -> None:
        with self._lock:
            if key in self._reloading:
                return
            self._reloading.add(key)
        try:
            self._reloads.submit(self._reload, key, seen_at)
        except RuntimeError:  # the executor is shut down (the interpreter is exiting): the entry just expires
            with self._lock:
                self._reloading.discard(key)

    def _reload(self, key: K, seen_at: float) -> None:
        """Reload the entry read at ``seen_at``, unless that is no longer useful: when reloads fall behind (many
        keys, one thread) a request may have loaded it since, or it may have expired, and then a request loads
        it when asked."""
        try:
            started = self._clock()
            current = self._entries.get(key)
            if current is not None and current[0] == seen_at and started - seen_at < self._ttl:
                self._store(key, started, self._load(key))
        except Exception as exc:  # the entry expires as usual; the request that loads it next sees the error
            log.warning("background reload of a cached lookup failed: %s", exc)
        finally:
            with self._lock:
                self._reloading.discard(key)
