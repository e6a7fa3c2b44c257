"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine); they are checked instead:
the compose file against the Compose Specification's JSON schema, and against the rules we keep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import yaml

from app.stack import SERVICES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


CLUSTER_NODES = ["ch-s1-r1", "ch-s1-r2", "ch-s2-r1", "ch-s2-r2"]
DEPLOY = ROOT / "deploy"


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
            assert service["depends_on"]["clickhouse"] == {"condition": "service_healthy"}
            assert all(service["depends_on"][node] == {"condition": "service_healthy", "required": False}
                       for node in CLUSTER_NODES)
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


def test_the_cluster_profile_config_is_well_formed_and_agrees_with_the_compose_file() -> None:
    """The cluster's XML (ElementTree parses it), its names and the compose services that mount it, and the
    env file that points the services at it."""
    services = compose()["services"]
    cluster = ET.parse(DEPLOY / "clickhouse" / "cluster.xml").getroot()
    (remote,) = list(cluster.find("remote_servers"))
    env = dict(line.split("=", 1) for line in (DEPLOY / "cluster.env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert remote.tag == env["CARTHOUSE_CLICKHOUSE_CLUSTER"] == "carthouse"
    shards = [[replica.findtext("host") for replica in shard.findall("replica")] for shard in remote.findall("shard")]
    assert shards == [["ch-s1-r1", "ch-s1-r2"], ["ch-s2-r1", "ch-s2-r2"]]
    assert all(shard.findtext("internal_replication") == "true" for shard in remote.findall("shard"))
    assert "@ch-s1-r1:9000/" in env["CARTHOUSE_CLICKHOUSE_URL"]
    keepers = [node.findtext("host") for node in cluster.find("zookeeper")]
    for number, shard in enumerate(shards, start=1):
        for host in shard:
            service = services[host]
            assert service["profiles"] == ["cluster"] and service["image"] == services["clickhouse"]["image"]
            macros = ET.parse(DEPLOY / "clickhouse" / "macros" / f"{host}.xml").getroot().find("macros")
            assert (macros.findtext("cluster"), macros.findtext("shard"), macros.findtext("replica")) == (
                "carthouse", str(number), host)
            assert f"./deploy/clickhouse/macros/{host}.xml:/etc/clickhouse-server/config.d/macros.xml:ro" in \
                service["volumes"]
            assert set(service["depends_on"]) == set(keepers)
    for number, keeper in enumerate(keepers, start=1):
        config = ET.parse(DEPLOY / "clickhouse" / "keeper" / f"{keeper}.xml").getroot().find("keeper_server")
        assert config.findtext("server_id") == str(number)
        assert [s.findtext("hostname") for s in config.find("raft_configuration")] == keepers
        assert services[keeper]["profiles"] == ["cluster"]
    # Two ingest and two gateway replicas; the gRPC host ports leave room for them.
    assert (env["CARTHOUSE_INGEST_REPLICAS"], env["CARTHOUSE_GATEWAY_REPLICAS"]) == ("2", "2")
    assert services["ingest"]["deploy"]["replicas"] == "${CARTHOUSE_INGEST_REPLICAS:-1}"
    assert services["dashboard"]["deploy"]["replicas"] == "${CARTHOUSE_GATEWAY_REPLICAS:-1}"
