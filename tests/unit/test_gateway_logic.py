"""Pure gateway logic: JSON binding (checked against protobuf's own json_format), query binding,
client addresses behind proxies, routing, Envoy-style numbers."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from carthouse import clientip
from carthouse.v1 import ingest_pb2
from gateway.binding import BindingError, build_request
from gateway.descriptors import ApiDescriptors, Router
from tests.builders import SPEC_PURCHASE

API = ApiDescriptors()
ROUTER = Router(API.routes)
BATCH, _ = ROUTER.match("POST", "/v1/api/analytics/ecommerce/batch")
TRACK, _ = ROUTER.match("POST", "/v1/api/analytics/ecommerce/track")
TOP, _ = ROUTER.match("GET", "/v1/api/analytics/ecommerce/top-products")

BODIES = [
    {"events": [SPEC_PURCHASE], "apiKey": "k"},
    {"events": [{"event_type": "view_item", "items": [{"item_id": "a", "quantity": "2", "price": "9.5"}],
                 "properties": {"n": 3, "b": True, "nested": {"x": [1, "y", None]}}, "context": {"ip": "::1"}}]},
    {"events": [{"eventType": "purchase", "transactionId": "t", "revenue": 1e3, "unknown": {"deep": 1}}]},
    {"events": [{"event_type": "refund", "revenue": None, "items": None}], "api_key": "k2"},
]


@pytest.mark.parametrize("body", BODIES)
def test_json_binding_builds_what_protobufs_json_format_builds(body) -> None:
    expected = json_format.ParseDict(body, ingest_pb2.BatchRequest(), ignore_unknown_fields=True)
    built = ingest_pb2.BatchRequest.FromString(build_request(BATCH, {}, [], body).SerializeToString())
    assert built == expected


def test_track_body_binds_to_the_event_field() -> None:
    built = ingest_pb2.TrackRequest.FromString(build_request(TRACK, {}, [], SPEC_PURCHASE).SerializeToString())
    assert built.event.transaction_id == "order_456" and built.event.items[0].quantity == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": [{"event_type": 5}]}, "Invalid JSON body: events[0].event_type must be a string"),
        ({"events": [{"revenue": "lots"}]}, "Invalid JSON body: events[0].revenue must be a number"),
        ({"events": "all"}, "Invalid JSON body: events must be an array"),
        ({"events": [{"items": [{"quantity": True}]}]},
         "Invalid JSON body: events[0].items[0].quantity must be a number"),
        ({"events": [{"properties": ["a"]}]}, "Invalid JSON body: events[0].properties must be an object"),
        ({"events": [7]}, "Invalid JSON body: events[0] must be an object"),
    ],
)
def test_json_binding_errors_name_the_field(body, message) -> None:
    with pytest.raises(BindingError) as caught:
        build_request(BATCH, {}, [], body)
    assert str(caught.value) == message


def test_query_parameters_bind_by_name_with_types() -> None:
    request = build_request(TOP, {}, [("limit", "5"), ("include_flagged", "true"), ("tz", "Europe/Berlin"),
                                      ("ignored", "x")], None)
    assert (request.limit, request.include_flagged, request.tz) == (5, True, "Europe/Berlin")
    assert not request.HasField("days")
    with pytest.raises(BindingError, match="parameter days"):
        build_request(TOP, {}, [("days", "99999999999")], None)


def test_path_variables_are_unescaped() -> None:
    route, variables = ROUTER.match("DELETE", "/v1/api/analytics/user/user%2F1")
    assert build_request(route, variables, [], None).user_id == "user/1"
    assert ROUTER.match("GET", "/v1/api/analytics/user/x") is None


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "client", "forwarded"),
    [
        ("1.2.3.4", "", "", "1.2.3.4", "1.2.3.4"),
        ("1.2.3.4", "6.6.6.6", "", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "6.6.6.6", "10.0.0.0/8", "6.6.6.6", "6.6.6.6, 10.0.0.1"),
        ("10.0.0.1", "7.7.7.7, 6.6.6.6, 10.0.0.2", "10.0.0.0/8", "6.6.6.6", "6.6.6.6, 10.0.0.2, 10.0.0.1"),
        ("::1", "2001:db8::5", "::1/128", "2001:db8::5", "2001:db8::5, ::1"),
        # A proxy seen through a dual-stack socket is the same IPv4 proxy.
        ("::ffff:10.0.0.1", "6.6.6.6", "10.0.0.0/8", "6.6.6.6", "6.6.6.6, ::ffff:10.0.0.1"),
    ],
)
def test_client_address_is_the_first_untrusted_hop(peer, header, trusted, client, forwarded) -> None:
    assert clientip.resolve(peer, header, clientip.parse_networks(trusted)) == (client, forwarded)
