"""Making the embedded store's tables unwritable for a while: chattr +i on their directories (chmod does not
stop root)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# Every table an ingested event reaches (the events_ingest views' targets).
STORED_TABLES = ["events", "event_items", "event_properties", "touches", "fraud_events", "cart_activity",
                 "actor_hours", "funnel_steps", "purchase_channels", "attribution_dirty", "funnel_dirty"]


def table_dirs(data_dir: Path, database: str, tables: list[str]) -> list[Path]:
    root = Path(data_dir) / "chdb" / "data" / database
    dirs = [(root / table).resolve() for table in tables]
    assert all(d.is_dir() for d in dirs), dirs
    return dirs


def immutable(paths: list[Path], on: bool) -> None:
    """Not even root may create a part there; skips the test where chattr is refused."""
    for path in paths:
        result = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot make the store unwritable here (chattr: {result.stderr.strip()})")
