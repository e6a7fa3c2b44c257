"""Ranges ending today, as the dashboard asks for them: whole local days in a time zone, ending at the end of
today there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def ranges_ending_today(now: datetime, zones: tuple[str, ...],
                        spans: tuple[int, ...]) -> Iterator[tuple[str, int, datetime, datetime]]:
    """(zone, days, since, until) in UTC for every zone and span of days."""
    for zone in zones:
        today = now.astimezone(ZoneInfo(zone)).date()
        until = datetime.combine(today + timedelta(days=1), time(), ZoneInfo(zone)).astimezone(UTC)
        for days in spans:
            since = datetime.combine(today - timedelta(days=days - 1), time(), ZoneInfo(zone)).astimezone(UTC)
            yield zone, days, since, until
