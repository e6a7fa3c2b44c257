"""Background rounds: run every poll interval, at once when woken, on after a failed round, never after stop."""

import logging
import threading

from services.analytics.background import Rounds


def test_rounds_run_when_woken_survive_a_failure_and_stop(caplog) -> None:
    calls: list[int] = []
    second = threading.Event()

    def run_round() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("store away")
        second.set()

    rounds = Rounds("test-rounds", run_round, poll_seconds=3600, log=logging.getLogger("test.rounds")).start()
    rounds.wake()  # the hour-long wait after the failed first round ends at once
    assert second.wait(5)
    rounds.stop()
    assert rounds.stopping and calls == [0, 1]
    assert any("test-rounds round failed; retrying" in record.message for record in caplog.records)
