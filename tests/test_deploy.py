"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine); they are checked instead:
the compose file against the Compose Specification's JSON schema, and against the rules we keep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from app.stack import SERVICES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_runs_in_its_own_container() -> None:
    services = compose()["services"]
    for name in SERVICES:
        assert services[name]["command"] == ["carthouse", "serve", name]


def test_long_running_containers_have_healthchecks_and_wait_for_healthy_dependencies() -> None:
    one_shot = {"migrate", "api-assets"}
    for name, service in compose()["services"].items():
        if name == "migrate":
            assert service["command"] == ["carthouse", "migrate"]
            assert service["depends_on"] == {"clickhouse": {"condition": "service_healthy"}}
        if name in one_shot:
            assert service["restart"] == "no"
            continue
        assert service["healthcheck"]["test"], name
        for dependency in service.get("depends_on", {}).values():
            assert dependency["condition"] in ("service_healthy", "service_completed_successfully"), name


def test_images_are_pinned_and_ports_bound_to_loopback() -> None:
    for name, service in compose()["services"].items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), name
        for port in service.get("ports", []):
            # Envoy is the public face; everything else stays on loopback.
            assert port.startswith("127.0.0.1:") or name == "envoy", (name, port)


def test_clickhouse_data_lives_in_a_volume() -> None:
    config = compose()
    assert "clickhouse-data:/var/lib/clickhouse" in config["services"]["clickhouse"]["volumes"]
    assert "clickhouse-data" in config["volumes"]


def test_dockerfile_generates_code_and_starts_known_services() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "scripts/gen-protos" in dockerfile
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert all(f'"{name}"' in cmd for name in SERVICES)


def test_envoy_gets_the_descriptor_set_and_waits_for_the_services_it_routes_to() -> None:
    services = compose()["services"]
    envoy = services["envoy"]
    assert "./gateway/envoy.yaml:/etc/envoy/envoy.yaml:ro" in envoy["volumes"]
    assert "envoy-assets:/etc/envoy/assets:ro" in envoy["volumes"]
    assert "carthouse.pb" in " ".join(services["api-assets"]["command"])
    assert envoy["depends_on"]["ingest"] == {"condition": "service_healthy"}
    assert envoy["depends_on"]["analytics"] == {"condition": "service_healthy"}
    assert envoy["ports"] == ["8080:8080"]
