"""`carthouse import FILE --appspace ID`: an NDJSON file of events into a running stack, through the ingest
pipeline with the operator's rights on that appspace (ImportService.Import: Batch's pipeline for large groups), so
every row is validated, converted, fraud-checked and deduplicated exactly as the API does it.

Rows are read in chunks of up to 20,000 events (and 12 MiB), each sent as one
ImportService.Import request, which the stack prepares on all its workers and stores in one INSERT (an INSERT's
cost is mostly fixed: docs/PERFORMANCE.md); two chunks in flight: the next chunk is read, converted and sent
while the stack still works on the one before. Each row without an event_id gets
one derived from the appspace, its line number and its text, so a row sent twice (an interrupted run started
again) is stored once. Progress is kept in FILE.import-state.json: the byte offset up to which every row is
answered, saved after each chunk; a new run for the same appspace starts there. Refused rows go to
FILE.rejected.ndjson with their line and the server's error.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
import orjson

from app import ga4
from carthouse.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc
from gateway.app import BODY_TOO_LARGE, MAX_BODY_BYTES
from gateway.json_to_proto import JsonBindingError, JsonToProto
from services.ingest.bulk import MAX_IMPORT

CHUNK = MAX_IMPORT  # events read and sent as one request before the progress is saved
CHUNK_BYTES = 12 * 1024 * 1024  # below the stack's 16 MiB limit on a gRPC message
CHUNKS_IN_FLIGHT = 2
# JSON to protobuf as the REST gateway does it (compiled per type, built in C): a tenth of json_format's cost.
TO_PROTO = JsonToProto()
EVENT = events_pb2.EcommerceEvent.DESCRIPTOR
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


NOT_AN_OBJECT = "not a JSON object"


@dataclass(slots=True)
class Row:
    """A line of the file; only its text is kept once its event is sent (a refused row's event is made again from
    it for the rejected file), so that the chunks in flight hold little besides the file's bytes."""

    line: int
    end: int  # the byte offset after this row
    text: bytes
    error: str = ""  # not JSON, not an object, not an event the contract can hold: refused here
    message: events_pb2.EcommerceEvent | None = None  # None and no error: skipped
    size: int = 0  # the message's bytes


def state_path(source: Path) -> Path:
    return source.with_name(source.name + ".import-state.json")


def rejected_path(source: Path) -> Path:
    return source.with_name(source.name + ".rejected.ndjson")


def derived_event_id(appspace_id: str, line: int, text: bytes) -> str:
    return str(uuid.uuid5(EVENT_IDS, f"{appspace_id}:{line}:{hashlib.sha256(text).hexdigest()}"))


class NotAnObject(ValueError):
    pass


def event_of_line(text: bytes, line: int, appspace_id: str, file_format: str) -> dict[str, Any] | None:
    """A line as an event of the batch API's shape, with an event_id derived from it if it has none; None for an
    empty line and a row that is not an ecommerce event."""
    if not text.strip():
        return None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise NotAnObject from None
    if not isinstance(parsed, dict):
        raise NotAnObject
    event = ga4.event_of(parsed) if file_format == "ga4" else parsed
    if event is not None:
        event.setdefault("event_id", derived_event_id(appspace_id, line, text))
    return event


def read_rows(source: Path, state: ImportState, file_format: str) -> Iterator[Row]:
    """The file's rows from where the last run stopped, each made an event of the batch API's shape."""
    with source.open("rb") as lines:
        lines.seek(state.offset)
        number, end = state.line, state.offset
        for text in lines:
            number += 1
            end += len(text)
            try:
                event = event_of_line(text, number, state.appspace_id, file_format)
            except NotAnObject:
                yield Row(number, end, text, NOT_AN_OBJECT)
                continue
            if event is None:
                yield Row(number, end, text)
                continue
            try:  # a row the contract cannot hold is refused here, with the gateway's own conversion and words
                message = events_pb2.EcommerceEvent(**TO_PROTO.keywords(EVENT, event))
            except (JsonBindingError, TypeError, ValueError) as exc:
                yield Row(number, end, text, _message(exc))
                continue
            size = message.ByteSize()
            if size > MAX_BODY_BYTES:  # what the API answers for a Track body of that size
                yield Row(number, end, text, BODY_TOO_LARGE)
                continue
            yield Row(number, end, text, message=message, size=size)


def _message(error: Exception) -> str:
    return str(error).splitlines()[0][:500]


def run_import(source: Path, channel: grpc.Channel, metadata: list[tuple[str, str]], appspace_id: str,
               file_format: str = "ndjson", progress: Callable[[ImportState], None] | None = None) -> ImportState:
    """Import ``source``; answers the state at the end (also saved beside the file)."""
    stub = ingest_pb2_grpc.ImportServiceStub(channel)
    state = ImportState.load(state_path(source), appspace_id)
    with rejected_path(source).open("a") as rejected:
        # Two chunks in flight: the next chunk is read, converted and sent while the stack still works on the one
        # before (one at a time, the stack would wait while the command reads). An interrupt leaves at most the
        # newer one unrecorded: its rows are sent again on the next run, and recognised by their ids.
        in_flight: list[SentChunk] = []
        try:
            for chunk in _chunks(read_rows(source, state, file_format)):
                if len(in_flight) == CHUNKS_IN_FLIGHT:
                    _record(in_flight.pop(0), state, rejected, file_format)
                    _saved(state, source, progress)
                in_flight.append(_send_chunk(chunk, stub, metadata))
            while in_flight:
                _record(in_flight.pop(0), state, rejected, file_format)
                _saved(state, source, progress)
        finally:  # stopped early: what was sent is answered before the command ends, so nothing is half-sent
            for sent in in_flight:
                if sent.answer is not None:
                    sent.answer.exception()
    return state


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    """The rows in chunks of at most CHUNK events and CHUNK_BYTES (and the rows without one between them)."""
    chunk: list[Row] = []
    events = size = 0
    for row in rows:
        if row.message is not None and (events == CHUNK or size + row.size > CHUNK_BYTES):
            yield chunk
            chunk, events, size = [], 0, 0
        chunk.append(row)
        if row.message is not None:
            events += 1
            size += row.size
    if chunk:
        yield chunk


@dataclass
class SentChunk:
    rows: list[Row]
    sent: list[Row]  # the rows with an event, in the order sent
    answer: grpc.Future | None  # None: nothing to send


def _send_chunk(rows: list[Row], stub: ingest_pb2_grpc.ImportServiceStub,
                metadata: list[tuple[str, str]]) -> SentChunk:
    """Send a chunk's events in file order, as one request (a gRPC future, answered while the next chunk is read),
    which the stack writes in one INSERT: with yearly partitions, a part per table and year the chunk spans
    whatever the order of its rows."""
    sendable = [row for row in rows if row.message is not None]
    if not sendable:
        return SentChunk(rows, [], None)
    request = ingest_pb2.ImportRequest(events=[row.message for row in sendable])
    for row in sendable:
        row.message = None
    return SentChunk(rows, sendable, stub.Import.future(request, metadata=metadata, timeout=300))


def _record(sent: SentChunk, state: ImportState, rejected: IO[str], file_format: str) -> None:
    """Wait for a chunk's answer and write down its outcome; the chunk counts as done once it is answered."""
    refused: dict[int, str] = {}  # line -> the server's error
    if sent.answer is not None:
        for error in sent.answer.result().errors:
            position, _, message = error.partition(": ")
            refused[sent.sent[int(position.removeprefix("events[").removesuffix("]"))].line] = message
    sent_lines = {row.line for row in sent.sent}
    for row in sent.rows:
        if row.error or row.line in refused:
            event = None if row.error == NOT_AN_OBJECT else event_of_line(row.text, row.line, state.appspace_id,
                                                                           file_format)
            rejected.write(json.dumps({"line": row.line, "error": row.error or refused[row.line],
                                       "event": event}) + "\n")
            state.rejected += 1
        elif row.line not in sent_lines:
            state.skipped += 1
    state.accepted += len(sent.sent) - len(refused)
    state.offset, state.line = sent.rows[-1].end, sent.rows[-1].line
    rejected.flush()


def _saved(state: ImportState, source: Path, progress: Callable[[ImportState], None] | None) -> None:
    state.save(state_path(source))
    if progress:
        progress(state)
