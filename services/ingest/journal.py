"""Groups being written, kept on disk until their INSERT has returned.

An INSERT's views write their tables side by side, each table's part committed on its own, so a process killed
in the middle of one leaves some tables holding the group and others not. The client's retry cannot mend that:
the events are in `events`, so deduplication answers "duplicate" (services/ingest/dedup.py), and the other
tables would stay without them. So the writer notes each group here (its rows, under its deduplication token)
before the first attempt and removes the note once the attempts are over; the next writer on the same data
directory writes every note left behind again before it takes any request, so that each table holds the group
exactly once (storage.rewrite_events: the group's rows deleted where they are kept per event, then inserted under
a new token). A group whose INSERT never began is then stored whole, as if it had been answered: its client's retry
is recognised as a duplicate.

The notes are written without fsync: a killed process leaves the page cache to the kernel, and a machine that
loses power loses the engine's unsynced parts as well. One writer owns a directory (the embedded engine's data
directory is exclusive; a server-mode ingest replica has its own data directory).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

log = logging.getLogger("carthouse.ingest.journal")

SUFFIX = ".rows"


class GroupJournal:
    def __init__(self, directory: Path) -> None:
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> GroupJournal:
        return cls(Path(data_dir) / "ingest-journal")

    def begin(self, token: str, lines: Sequence[bytes]) -> None:
        """Note a group before its first attempt; a note half-written by a killed process has no attempt behind
        it (replace() makes it whole or absent)."""
        temporary = self._path(token).with_suffix(".tmp")
        with temporary.open("wb") as note:
            note.write(b"\n".join(lines))
        temporary.replace(self._path(token))

    def end(self, token: str) -> None:
        self._path(token).unlink(missing_ok=True)

    def left(self) -> Iterator[tuple[str, list[bytes]]]:
        """The groups a stopped writer noted and did not finish: (token, rows)."""
        for path in sorted(self._directory.glob(f"*{SUFFIX}")):
            yield path.name.removesuffix(SUFFIX), path.read_bytes().split(b"\n")

    def repeat_left(self, write_again: Callable[[Sequence[bytes]], None]) -> int:
        """Write every group left behind again; a group that fails again stays noted for the next start. Answers
        how many were written."""
        repeated = 0
        for token, lines in self.left():
            started = time.monotonic()
            try:
                write_again(lines)
            except Exception as exc:
                log.error("could not write again a group of %d events left by a stopped writer (kept for the next "
                          "start): %s", len(lines), exc)
                continue
            self.end(token)
            repeated += 1
            log.warning("wrote again a group of %d events a stopped writer left unfinished, in %.1f s: every table "
                        "holds it once", len(lines), time.monotonic() - started)
        return repeated

    def _path(self, token: str) -> Path:
        return self._directory / f"{token}{SUFFIX}"
