"""One log format for every Carthouse process."""

from __future__ import annotations

import logging
import time


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


class Throttled:
    """Warnings about a condition that repeats on every request (a dependency down): each kind is logged at
    most once per ``interval`` seconds, kinds independently, so one repeating warning never hides another."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -self._interval - 1) > self._interval:
            self._last[kind] = now
            self._logger.warning(message, *args)
