"""The ingest writer's journal of groups being written: notes left by a killed writer are written again once, a
group failing again stays noted, a finished one leaves nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from services.ingest.journal import GroupJournal


def test_notes_are_written_again_and_one_failing_again_is_kept(tmp_path: Path) -> None:
    journal = GroupJournal(tmp_path)
    journal.begin("t1", [b'["a",1]', b'["b",2]'])
    journal.begin("t2", [b'["c",3]'])
    journal.begin("t3", [b'["d",4]'])
    journal.end("t3")  # its attempts are over
    written: list[list[bytes]] = []

    def write_again(lines: Sequence[bytes]) -> None:
        if lines == [b'["c",3]']:
            raise OSError("disk full")
        written.append(list(lines))

    assert journal.repeat_left(write_again) == 1
    assert written == [[b'["a",1]', b'["b",2]']]
    assert list(journal.left()) == [("t2", [b'["c",3]'])]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["t2.rows"]
