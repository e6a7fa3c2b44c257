"""Throttled warnings: each kind at most once per interval, kinds independently (a repeating heartbeat warning
once hid the dedup fallback's warning for 10 s, and a fault test that looks for it failed)."""

from __future__ import annotations

import logging

import pytest

from carthouse import logs
from carthouse.logs import Throttled


def test_each_kind_is_logged_at_most_once_per_interval_and_kinds_do_not_hide_each_other(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    monkeypatch.setattr(logs.time, "monotonic", lambda: now[0])
    warnings = Throttled(logging.getLogger("test.throttled"), interval=10)
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        warnings.warning("heartbeat", "heartbeat failed: %s", "refused")
        warnings.warning("fallback", "deduplicating through ClickHouse")
        now[0] += 9.9
        warnings.warning("heartbeat", "heartbeat failed: %s", "again")
        now[0] += 0.2
        warnings.warning("heartbeat", "heartbeat failed: %s", "later")
    assert [r.getMessage() for r in caplog.records] == [
        "heartbeat failed: refused", "deduplicating through ClickHouse", "heartbeat failed: later"]
