"""An Import request (up to MAX_IMPORT events of a history import) cut into slices for the preparation workers, so
that both worker processes share one request, and the seq of its events: their order among the request's events
of equal time (seq orders events of equal time, docs/METRICS.md; it is a UInt8, so an index of 20,000 would not
fit, and a slice's own index would misorder equal times across a slice's edge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from carthouse.v1 import events_pb2, ingest_pb2

MAX_IMPORT = 20_000
IMPORT_TOO_LARGE = f"Maximum {MAX_IMPORT} events per import request"
# Events a worker prepares at once: small enough that the two workers share a request evenly, large enough that a
# slice's own costs (a process hand-off, one fraud check) stay small.
SLICE = 1_000
LAST_SEQ = 255  # seq is a UInt8: the 256th and later events of one time share the last value


@dataclass(frozen=True)
class Slice:
    first_index: int
    payload: bytes  # a serialized BatchRequest, what the workers read
    seqs: tuple[int, ...]


def seqs_of_equal_times(timestamps: Sequence[str]) -> list[int]:
    """Each event's place among the earlier events of the same timestamp (as sent; events without one get the
    request's time, so they share one), from 0."""
    seen: dict[str, int] = {}
    seqs = []
    for timestamp in timestamps:
        place = seen.get(timestamp, 0)
        seen[timestamp] = place + 1
        seqs.append(min(place, LAST_SEQ))
    return seqs


def slices_of(events: Sequence[events_pb2.EcommerceEvent]) -> list[Slice]:
    seqs = seqs_of_equal_times([event.timestamp for event in events])
    return [
        Slice(start, ingest_pb2.BatchRequest(events=events[start:start + SLICE]).SerializeToString(),
              tuple(seqs[start:start + SLICE]))
        for start in range(0, len(events), SLICE)
    ]
