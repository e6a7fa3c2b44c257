"""Rounds in a background thread: the analytics service's workers (deletions, last touches) each run a round
every few seconds until stopped. A failed round is logged; the next one retries, as each round starts from what
the store says is left to do."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Self


class Rounds:
    """Calls ``run_round`` every ``poll_seconds`` in a daemon thread named ``name``; ``wake`` starts the next round
    at once."""

    def __init__(self, name: str, run_round: Callable[[], object], poll_seconds: float, log: logging.Logger) -> None:
        self._run_round = run_round
        self._poll = poll_seconds
        self._log = log
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> Self:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_round()
            except Exception:  # what the round left undone is still recorded in the store
                self._log.exception("%s round failed; retrying", self._thread.name)
            self._wake.wait(self._poll)
            self._wake.clear()
