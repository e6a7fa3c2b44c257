"""An Import request cut into slices for the preparation workers, and the order of its events of equal time."""

from __future__ import annotations

from carthouse.v1 import events_pb2, ingest_pb2
from services.ingest.bulk import LAST_SEQ, SLICE, seqs_of_equal_times, slices_of


def test_seq_is_the_place_among_earlier_events_of_the_same_timestamp() -> None:
    assert seqs_of_equal_times(["t1", "t2", "t1", "", "t1", ""]) == [0, 0, 1, 0, 2, 1]


def test_seq_stops_at_the_last_value_a_uint8_holds() -> None:
    seqs = seqs_of_equal_times(["t"] * 300)
    assert seqs[:3] == [0, 1, 2] and seqs[LAST_SEQ] == 255 and seqs[299] == 255


def test_slices_keep_the_request_order_and_number_from_their_first_event() -> None:
    events = [events_pb2.EcommerceEvent(event_type="view_item", user_id=f"u{n}", timestamp="2026-01-01T00:00:00Z")
              for n in range(2 * SLICE + 5)]
    slices = slices_of(events)
    assert [part.first_index for part in slices] == [0, SLICE, 2 * SLICE]
    users = [event.user_id for part in slices for event in ingest_pb2.BatchRequest.FromString(part.payload).events]
    assert users == [f"u{n}" for n in range(2 * SLICE + 5)]
    # One timestamp for all: the seqs go on across the slices' edges (up to the last value).
    assert slices[0].seqs[:2] == (0, 1) and slices[1].seqs[0] == LAST_SEQ and len(slices[2].seqs) == 5
