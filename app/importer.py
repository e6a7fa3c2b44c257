"""`carthouse import FILE --appspace ID`: an NDJSON file of events into a running stack, through IngestService.Batch
with the operator's rights on that appspace, so every row is validated, converted, fraud-checked and deduplicated
exactly as the API does it.

Rows go in batches of 100 (the API's limit), several in flight. Each row without an event_id gets one derived from
the appspace, its line number and its text, so a row sent twice (an interrupted run started again) is stored once.
Progress is kept in FILE.import-state.json: the byte offset up to which every row is answered; a new run for the
same appspace starts there. Refused rows go to FILE.rejected.ndjson with their line and the server's error.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from app import ga4
from carthouse.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc

BATCH = 100
IN_FLIGHT = 4
EVENT_IDS = uuid.UUID("5c0b1e7e-6a8f-4d53-9a43-0c7f3c7a1d52")  # the namespace of derived event ids


@dataclass
class ImportState:
    """What a run has done; kept beside the file so that another run can go on from it."""

    appspace_id: str
    offset: int = 0  # bytes of the file whose rows are all answered
    line: int = 0  # rows (lines) answered
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0  # rows that are not ecommerce events (GA4's page_view …)

    @classmethod
    def load(cls, path: Path, appspace_id: str) -> ImportState:
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("appspace_id") == appspace_id:
                return cls(**saved)
        return cls(appspace_id)

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.__dict__))
        temporary.replace(path)


@dataclass
class Row:
    line: int
    end: int  # the byte offset after this row
    event: dict[str, Any] | None  # None: skipped
    error: str = ""  # not JSON, not an object: refused here


@dataclass
class Batch:
    rows: list[Row]
    answer: Future[list[str]] | None = None  # the errors, "events[i]: message"
    sent: list[Row] = field(default_factory=list)


def state_path(source: Path) -> Path:
    return source.with_name(source.name + ".import-state.json")


def rejected_path(source: Path) -> Path:
    return source.with_name(source.name + ".rejected.ndjson")


def derived_event_id(appspace_id: str, line: int, text: bytes) -> str:
    return str(uuid.uuid5(EVENT_IDS, f"{appspace_id}:{line}:{hashlib.sha256(text).hexdigest()}"))


def read_rows(source: Path, state: ImportState, file_format: str) -> Iterator[Row]:
    """The file's rows from where the last run stopped, each made an event of the batch API's shape."""
    with source.open("rb") as lines:
        lines.seek(state.offset)
        number, end = state.line, state.offset
        for text in lines:
            number += 1
            end += len(text)
            if not text.strip():
                yield Row(number, end, None)
                continue
            try:
                parsed = json.loads(text)
            except ValueError:
                yield Row(number, end, None, "not a JSON object")
                continue
            if not isinstance(parsed, dict):
                yield Row(number, end, None, "not a JSON object")
                continue
            event = ga4.event_of(parsed) if file_format == "ga4" else parsed
            if event is not None:
                event.setdefault("event_id", derived_event_id(state.appspace_id, number, text))
            yield Row(number, end, event)


def _send(stub: ingest_pb2_grpc.IngestServiceStub, metadata: list[tuple[str, str]],
          events: list[dict[str, Any]]) -> list[str]:
    request = ingest_pb2.BatchRequest()
    for event in events:
        json_format.ParseDict(event, request.events.add(), ignore_unknown_fields=False)
    return list(stub.Batch(request, metadata=metadata, timeout=120).errors)


def _message(error: Exception) -> str:
    return str(error).splitlines()[0][:500]


def run_import(source: Path, channel: grpc.Channel, metadata: list[tuple[str, str]], appspace_id: str,
               file_format: str = "ndjson", progress: Callable[[ImportState], None] | None = None) -> ImportState:
    """Import ``source``; answers the state at the end (also saved beside the file)."""
    stub = ingest_pb2_grpc.IngestServiceStub(channel)
    state = ImportState.load(state_path(source), appspace_id)
    pending: deque[Batch] = deque()
    with ThreadPoolExecutor(IN_FLIGHT) as pool, rejected_path(source).open("a") as rejected:

        def settle(batch: Batch) -> None:
            errors = batch.answer.result() if batch.answer else []
            refused = {int(e.split("]", 1)[0].removeprefix("events[")): e.split(": ", 1)[-1] for e in errors}
            for index, row in enumerate(batch.sent):
                if index in refused:
                    _reject(rejected, row, refused[index], state)
            state.accepted += len(batch.sent) - len(refused)
            for row in batch.rows:
                if row.error:
                    _reject(rejected, row, row.error, state)
                elif row.event is None:
                    state.skipped += 1
            state.offset, state.line = batch.rows[-1].end, batch.rows[-1].line
            rejected.flush()
            state.save(state_path(source))
            if progress:
                progress(state)

        def submit(rows: list[Row]) -> None:
            batch = Batch(rows, sent=[row for row in rows if row.event is not None])
            checked: list[Row] = []
            for row in batch.sent:  # a row the proto cannot take is refused here, as the API would
                try:
                    json_format.ParseDict(row.event, events_pb2.EcommerceEvent())
                    checked.append(row)
                except (json_format.ParseError, TypeError, ValueError) as exc:
                    row.error = _message(exc)
            batch.sent = checked
            if checked:
                batch.answer = pool.submit(_send, stub, metadata, [row.event for row in checked])
            pending.append(batch)
            while len(pending) > IN_FLIGHT or (pending and pending[0].answer is None):
                settle(pending.popleft())

        rows: list[Row] = []
        events = 0
        for row in read_rows(source, state, file_format):
            rows.append(row)
            events += row.event is not None
            if events >= BATCH:
                submit(rows)
                rows, events = [], 0
        if rows:
            submit(rows)
        while pending:
            settle(pending.popleft())
    return state


def _reject(out: Any, row: Row, error: str, state: ImportState) -> None:
    out.write(json.dumps({"line": row.line, "error": error, "event": row.event}) + "\n")
    state.rejected += 1
