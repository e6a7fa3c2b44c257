"""gateway/envoy.yaml against Envoy's own config schema (the xds-protos package) and our descriptor set.
Envoy cannot run here; this is how its configuration is checked."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import envoy
import pytest
import yaml
from google.protobuf import json_format

from app.stack import SERVICES
from gateway.descriptors import ApiDescriptors

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "gateway" / "envoy.yaml"


@pytest.fixture(scope="module")
def bootstrap() -> Any:
    # Register every Envoy message type, so that each typed_config's @type resolves (or fails loudly).
    for module in pkgutil.walk_packages(envoy.__path__, "envoy."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)
    from envoy.config.bootstrap.v3 import bootstrap_pb2

    return json_format.ParseDict(yaml.safe_load(CONFIG.read_text()), bootstrap_pb2.Bootstrap())


def _filters(bootstrap: Any) -> tuple[Any, list[Any]]:
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2

    network = bootstrap.static_resources.listeners[0].filter_chains[0].filters[0]
    manager = hcm_pb2.HttpConnectionManager()
    assert network.typed_config.Unpack(manager)
    return manager, list(manager.http_filters)


def test_config_parses_into_envoys_bootstrap_with_every_typed_config_resolved(bootstrap) -> None:
    manager, filters = _filters(bootstrap)
    assert [f.name for f in filters] == [
        "envoy.filters.http.health_check", "envoy.filters.http.cors", "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.lua", "envoy.filters.http.grpc_json_transcoder", "envoy.filters.http.router",
    ]
    assert filters[-1].name == "envoy.filters.http.router"


def test_transcoder_serves_every_annotated_service_like_the_python_gateway(bootstrap) -> None:
    from envoy.extensions.filters.http.grpc_json_transcoder.v3 import transcoder_pb2

    _, filters = _filters(bootstrap)
    transcoder = transcoder_pb2.GrpcJsonTranscoder()
    assert next(f for f in filters if f.name.endswith("grpc_json_transcoder")).typed_config.Unpack(transcoder)
    assert sorted(transcoder.services) == ApiDescriptors().public_services()
    assert transcoder.print_options.preserve_proto_field_names
    assert transcoder.print_options.always_print_primitive_fields
    assert transcoder.request_validation_options.reject_unknown_method
    assert transcoder.max_request_body_size.value == 1024 * 1024
    assert transcoder.proto_descriptor == "/etc/envoy/assets/carthouse.pb"


def test_every_public_service_has_a_route_and_a_health_checked_http2_cluster(bootstrap) -> None:
    manager, _ = _filters(bootstrap)
    routes = {r.match.prefix: r.route.cluster for r in manager.route_config.virtual_hosts[0].routes if r.match.prefix}
    clusters = {c.name: c for c in bootstrap.static_resources.clusters}
    for service in ApiDescriptors().public_services():
        cluster = routes[f"/{service}/"]
        assert cluster in SERVICES
        assert clusters[cluster].health_checks[0].grpc_health_check.service_name == service
        options = clusters[cluster].typed_extension_protocol_options
        assert "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" in options


def test_rate_limit_is_per_client_address_at_the_documented_default(bootstrap) -> None:
    from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2

    _, filters = _filters(bootstrap)
    limit = local_rate_limit_pb2.LocalRateLimit()
    assert next(f for f in filters if f.name.endswith("local_ratelimit")).typed_config.Unpack(limit)
    (descriptor,) = limit.descriptors
    assert [e.key for e in descriptor.entries] == ["remote_address"]
    assert descriptor.token_bucket.max_tokens == 1000
    assert descriptor.token_bucket.fill_interval.seconds == 60


def test_errors_envoy_makes_itself_have_the_gateways_shape(bootstrap) -> None:
    manager, _ = _filters(bootstrap)
    body_format = json_format.MessageToDict(manager.local_reply_config.body_format.json_format)
    assert body_format == {"error": "%LOCAL_REPLY_BODY%"}
    bodies = {m.filter.status_code_filter.comparison.value.default_value: m.body.inline_string
              for m in manager.local_reply_config.mappers}
    assert bodies == {429: "Too many requests. Please slow down.", 413: "Request body too large (limit 1 MiB)",
                      404: "Not found"}
