"""Child processes of the embedded stack end when the stack does, also when it is killed with SIGKILL and
cannot stop them: a process left behind would hold its port and keep serving for a stack that is gone."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger("app.lifeline")

PARENT_PID_ENV = "CARTHOUSE_PARENT_PID"
POLL_SECONDS = 1.0


def follow_parent(parent_pid: int, on_orphaned: Callable[[], None] | None = None) -> None:
    """Watch ``parent_pid`` from a daemon thread; once this process is re-parented (the parent died), call
    ``on_orphaned`` (a graceful stop) and, if the process is still alive 10 s later, exit."""

    def watch() -> None:
        stopping = threading.Event()
        while os.getppid() == parent_pid:
            stopping.wait(POLL_SECONDS)
        log.warning("the stack (process %d) is gone; this process stops too", parent_pid)
        if on_orphaned is not None:
            on_orphaned()
            stopping.wait(10)
        os._exit(0)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def follow_parent_from_env(on_orphaned: Callable[[], None] | None = None) -> None:
    """follow_parent for a process started with CARTHOUSE_PARENT_PID in its environment (else nothing)."""
    raw = os.environ.get(PARENT_PID_ENV, "")
    if raw.isdigit():
        follow_parent(int(raw), on_orphaned)


def follow_parent_process() -> None:
    """follow_parent for a worker process of the stack (the ingest workers' initializer)."""
    follow_parent(os.getppid())
