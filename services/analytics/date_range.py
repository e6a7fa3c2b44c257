"""The one date-range resolver every query endpoint uses (docs/METRICS.md, "Date range").

``days`` (default 30) ending today, or ``start`` + ``end`` (inclusive ISO dates, both or neither), in the
appspace's time zone or ``tz``; the start is clamped to the plan's retention. Bad values are 400s whose
message names the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from carthouse.errors import InvalidArgument
from carthouse.timezones import find_zone

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class DateRange:
    """Local calendar days first..last (inclusive) in ``tz``, and their UTC bounds [since, until)."""

    first: date
    last: date
    tz: str

    @property
    def days(self) -> int:
        return max(0, (self.last - self.first).days + 1)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.tz)).astimezone(UTC)

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def _zone(tz: str) -> ZoneInfo:
    zone = find_zone(tz)
    if zone is None:
        raise InvalidArgument(f"tz must be an IANA time zone name such as Europe/Berlin, got {tz!r}")
    return zone


def _iso_date(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{name} must be an ISO date (YYYY-MM-DD), got {text!r}") from None


def resolve(
    *,
    days: int | None,
    start: str,
    end: str,
    tz: str,
    appspace_tz: str,
    retention_days: int,
    now: datetime,
) -> DateRange:
    zone_name = tz or appspace_tz or "UTC"
    today = now.astimezone(_zone(zone_name)).date()
    if start or end:
        if not (start and end):
            raise InvalidArgument("start and end must be given together")
        if days is not None:
            raise InvalidArgument("days cannot be combined with start and end")
        first, last = _iso_date("start", start), _iso_date("end", end)
        if last < first:
            raise InvalidArgument("end must not be before start")
        if first > today:
            raise InvalidArgument(f"start must not be after today ({today.isoformat()} in {zone_name})")
        # Nothing is stored after today: a far end would only make empty (zero-filled) days.
        last = min(last, today)
    else:
        if days is None:
            days = DEFAULT_DAYS
        if days < 1:
            raise InvalidArgument(f"days must be a positive whole number, got {days}")
        # Retention bounds the range anyway; clamping first keeps huge values (days=2147483646) valid.
        first, last = today - timedelta(days=min(days, retention_days) - 1), today
    oldest_kept = today - timedelta(days=retention_days - 1)
    return DateRange(first=max(first, oldest_kept), last=last, tz=zone_name)
