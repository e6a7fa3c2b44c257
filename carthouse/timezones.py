"""Looking up an IANA time zone named by a client."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def find_zone(name: str) -> ZoneInfo | None:
    """The zone, or None for anything that is not one: unknown names, malformed ones, and names the file
    system refuses (a 300-character name raises OSError "File name too long", found by schemathesis)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
