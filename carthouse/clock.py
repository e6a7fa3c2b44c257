"""The wall clock every part reads (injected as ``clock`` where a test needs another time)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
