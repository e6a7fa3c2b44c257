"""The proto contract against the binding REST spec: every documented path is annotated, none extra."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTOR_SET = ROOT / "build" / "carthouse.pb"
SPEC = ROOT.parent / "shared" / "spec" / "ecommerce-api.txt"
PUBLIC_SERVICES = {"carthouse.v1.IngestService", "carthouse.v1.AnalyticsService"}
# Our additions beyond the spec, each documented in docs/API.md.
EXTRA_ROUTES = {("GET", "/v1/api/analytics/ecommerce/fraud-events"), ("GET", "/v1/api/analytics/deletions"),
                ("GET", "/v1/api/analytics/appspace")}


def annotated_routes() -> dict[tuple[str, str], str]:
    """(VERB, path) -> fully qualified method, read from the generated descriptor set."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    routes = {}
    for file in files.file:
        for service in file.service:
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                routes[(verb.upper(), getattr(rule, verb))] = f"{file.package}.{service.name}/{method.name}"
    return routes


def spec_routes() -> set[tuple[str, str]]:
    text = SPEC.read_text()
    found = set()
    for verb, path in re.findall(r"^(GET|POST|DELETE) (/v1/\S+)", text, flags=re.MULTILINE):
        path = path.split("?")[0]
        path = re.sub(r":(\w+)", lambda m: "{" + re.sub(r"(?<!^)([A-Z])", r"_\1", m.group(1)).lower() + "}", path)
        found.add((verb, path))
    return found


def documented_routes() -> set[tuple[str, str]]:
    """The spec's routes; in a clone without the spec beside it, the annotated ones less our additions (which
    the test below proves equal whenever the spec is there)."""
    return spec_routes() if SPEC.exists() else set(annotated_routes()) - EXTRA_ROUTES


@pytest.mark.skipif(not SPEC.exists(), reason=f"the shared spec is not beside the repo ({SPEC})")
def test_annotated_routes_are_exactly_the_documented_paths_plus_our_additions() -> None:
    assert set(annotated_routes()) == spec_routes() | EXTRA_ROUTES
    assert len(spec_routes()) == 16
    assert not EXTRA_ROUTES & spec_routes()


def test_every_public_rpc_has_an_http_rule_and_internal_ones_none() -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    for file in files.file:
        for service in file.service:
            name = f"{file.package}.{service.name}"
            if not name.startswith("carthouse."):
                continue
            for method in service.method:
                annotated = method.options.HasExtension(annotations_pb2.http)
                assert annotated == (name in PUBLIC_SERVICES), f"{name}/{method.name}"


def test_every_message_and_field_is_documented() -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    for file in files.file:
        if not file.package.startswith("carthouse."):
            continue
        documented = {tuple(loc.path) for loc in file.source_code_info.location if loc.leading_comments.strip()}
        for index, message in enumerate(file.message_type):
            assert (4, index) in documented, f"{file.name}: message {message.name}"
            for field_index, field in enumerate(message.field):
                assert (4, index, 2, field_index) in documented, f"{file.name}: {message.name}.{field.name}"
        for index, service in enumerate(file.service):
            assert (6, index) in documented, f"{file.name}: service {service.name}"
            for method_index, method in enumerate(service.method):
                assert (6, index, 2, method_index) in documented, f"{service.name}.{method.name}"
