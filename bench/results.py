"""Every benchmark run leaves one row in bench/results/<benchmark>.csv: when, on what, at which commit, and its
raw figures. docs/PERFORMANCE.md quotes the current figures; the CSV files keep every run for the record."""

from __future__ import annotations

import csv
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=RESULTS.parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def record(benchmark: str, figures: dict[str, object]) -> Path:
    """Append this run's row (the figures after the run's time, machine and commit); a figure that earlier rows
    lack becomes a new column, empty for them."""
    row: dict[str, object] = {
        "recorded_at": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "commit": _commit(),
        **{key: round(value, 2) if isinstance(value, float) else value for key, value in figures.items()},
    }
    path = RESULTS / f"{benchmark}.csv"
    RESULTS.mkdir(exist_ok=True)
    rows: list[dict[str, object]] = []
    header = list(row)
    if path.exists():
        with path.open(newline="") as existing:
            reader = csv.DictReader(existing)
            rows = list(reader)
            header = list(reader.fieldnames or []) + [key for key in row if key not in (reader.fieldnames or [])]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows([*rows, row])
    print(f"recorded in {path.relative_to(RESULTS.parent.parent)}")
    return path
