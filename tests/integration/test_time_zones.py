"""Python's zoneinfo (the range resolver's local midnights) and ClickHouse (toDate / toStartOfDay in the query
layer) must agree on where every local day starts, or a range and its daily buckets would disagree at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.analytics.date_range import DateRange

# DST in both hemispheres, half-hour and 45-minute offsets, a 30-minute DST shift (Lord Howe), and zones whose
# clocks change at midnight, so that some local midnights do not exist (Santiago, Havana, Asuncion).
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Adelaide", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago", "America/Havana",
         "America/Asuncion", "Pacific/Apia"]
DAYS = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]


@pytest.mark.parametrize("zone", ZONES)
def test_local_midnights_agree_with_clickhouse_for_every_day_of_a_year(store, zone: str) -> None:
    starts_ms = [int(DateRange(day, day, zone).since.timestamp() * 1000) for day in DAYS]
    rows = store.query(f"""
SELECT toString(toDate(fromUnixTimestamp64Milli(start_ms, 'UTC'), '{zone}')) AS day_of_start,
       toString(toDate(fromUnixTimestamp64Milli(start_ms - 1, 'UTC'), '{zone}')) AS day_before_start,
       toUnixTimestamp(toStartOfDay(toDateTime(intDiv(start_ms, 1000) + 12 * 3600, '{zone}'))) * 1000
           AS clickhouse_start_ms
FROM (SELECT arrayJoin({{starts:Array(Int64)}}) AS start_ms)
""", {"starts": starts_ms})
    assert len(rows) == len(DAYS)
    for day, start_ms, row in zip(DAYS, starts_ms, rows, strict=True):
        assert row["day_of_start"] == str(day), (zone, day)
        assert row["day_before_start"] == str(day - timedelta(days=1)), (zone, day)
        # Where the local midnight does not exist (clocks jump from 23:59:59 to 01:00), both take the day's first
        # moment.
        assert row["clickhouse_start_ms"] == start_ms, (zone, day, datetime.fromtimestamp(start_ms / 1000, UTC))
