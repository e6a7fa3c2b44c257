"""The date-range resolver every analytics endpoint uses (pure logic)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from carthouse.errors import InvalidArgument
from services.analytics.date_range import resolve

NOW = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on 30 March in Berlin (summer time since 29 March)


def make(**changes):
    args = {"days": None, "start": "", "end": "", "tz": "", "appspace_tz": "UTC", "retention_days": 365, "now": NOW}
    return resolve(**{**args, **changes})


def test_default_is_the_last_30_days_ending_today() -> None:
    r = make()
    assert (r.first, r.last, r.days) == (date(2026, 2, 28), date(2026, 3, 29), 30)
    assert (r.since, r.until) == (datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))


def test_today_and_day_bounds_follow_the_time_zone() -> None:
    r = make(days=1, tz="Europe/Berlin")
    assert (r.first, r.last) == (date(2026, 3, 30), date(2026, 3, 30))
    # Berlin midnight on 30 March is 22:00 UTC the day before (CEST, UTC+2).
    assert (r.since, r.until) == (datetime(2026, 3, 29, 22, tzinfo=UTC), datetime(2026, 3, 30, 22, tzinfo=UTC))
    assert make(days=1, appspace_tz="Europe/Berlin").first == date(2026, 3, 30)
    assert make(days=1, appspace_tz="Europe/Berlin", tz="UTC").first == date(2026, 3, 29)


def test_start_and_end_are_inclusive_dates() -> None:
    r = make(start="2026-03-01", end="2026-03-03")
    assert (r.days, [d.isoformat() for d in r.dates()]) == (3, ["2026-03-01", "2026-03-02", "2026-03-03"])
    # The night the clocks go forward has 23 hours.
    berlin = make(start="2026-03-29", end="2026-03-29", tz="Europe/Berlin")
    assert (berlin.until - berlin.since).total_seconds() == 23 * 3600


def test_retention_clamps_the_start() -> None:
    assert make(days=365, retention_days=90).days == 90
    r = make(start="2025-01-01", end="2026-03-29", retention_days=90)
    assert (r.first, r.days) == (date(2025, 12, 30), 90)
    assert make(start="2025-01-01", end="2025-01-31", retention_days=90).days == 0


@pytest.mark.parametrize(("changes", "message"), [
    ({"days": 0}, "days must be a positive whole number, got 0"),
    ({"days": -3}, "days must be a positive whole number, got -3"),
    ({"start": "2026-03-01"}, "start and end must be given together"),
    ({"end": "2026-03-01"}, "start and end must be given together"),
    ({"start": "2026-03-02", "end": "2026-03-01"}, "end must not be before start"),
    ({"start": "03/01/2026", "end": "2026-03-02"}, "start must be an ISO date (YYYY-MM-DD), got '03/01/2026'"),
    ({"start": "2026-03-01", "end": "soon"}, "end must be an ISO date (YYYY-MM-DD), got 'soon'"),
    ({"days": 7, "start": "2026-03-01", "end": "2026-03-02"}, "days cannot be combined with start and end"),
    ({"tz": "Mars/Olympus"}, "tz must be an IANA time zone name such as Europe/Berlin, got 'Mars/Olympus'"),
])
def test_bad_values_name_the_parameter(changes, message) -> None:
    with pytest.raises(InvalidArgument) as caught:
        make(**changes)
    assert str(caught.value) == message


def test_huge_ranges_are_clamped_to_what_can_be_stored() -> None:
    # Found by schemathesis: days=2147483646 overflowed timedelta (a 500). Retention bounds the start, today the end.
    r = make(days=2_147_483_646)
    assert (r.first, r.last, r.days) == (date(2025, 3, 30), date(2026, 3, 29), 365)
    r = make(start="0001-01-01", end="9999-12-31")
    assert (r.first, r.last, r.days) == (date(2025, 3, 30), date(2026, 3, 29), 365)


def test_start_after_today_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"^start must not be after today \(2026-03-29 in UTC\)$"):
        make(start="2026-03-30", end="2026-04-02")


def test_a_time_zone_name_too_long_for_the_file_system_is_a_400() -> None:
    # Found by schemathesis: ZoneInfo raised OSError (File name too long), which became a 500.
    with pytest.raises(InvalidArgument, match="^tz must be an IANA time zone name"):
        make(tz="Europe/" + "x" * 300)
