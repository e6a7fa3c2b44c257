"""The stored row's time text: what DateTime64(3) reads, milliseconds truncated."""

from __future__ import annotations

from datetime import UTC, datetime

from services.ingest.rows import clickhouse_time


def test_times_are_written_to_the_millisecond_truncated() -> None:
    assert clickhouse_time(datetime(2026, 3, 1, 10, 0, 0, 123999, tzinfo=UTC)) == "2026-03-01 10:00:00.123"
    assert clickhouse_time(datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)) == "2026-03-01 10:00:00.000"
    assert clickhouse_time(datetime(2026, 3, 1, 10, 0, 0, 999)) == "2026-03-01 10:00:00.000"
