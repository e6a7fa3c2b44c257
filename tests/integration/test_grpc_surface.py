"""What a gRPC client sees: health per service, reflection, the admin token."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from carthouse.v1 import admin_pb2, admin_pb2_grpc, analytics_pb2, analytics_pb2_grpc
from tests.builders import key

SERVICES = [
    "carthouse.v1.IngestService",
    "carthouse.v1.ImportService",
    "carthouse.v1.AnalyticsService",
    "carthouse.v1.FraudService",
    "carthouse.v1.FxService",
    "carthouse.v1.AdminService",
]


@pytest.mark.parametrize("service", [*SERVICES, ""])
def test_health_reports_serving_for_each_service(channel, service: str) -> None:
    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def listed_services(channel: grpc.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    return {service.name for service in next(responses).list_services_response.service}


def test_reflection_lists_the_services_as_grpcurl_would(channel, stack) -> None:
    # FraudService runs in a child process with its own port; the stack's port reports its health only.
    here = set(SERVICES) - {"carthouse.v1.FraudService"}
    assert listed_services(channel) >= {*here, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
    assert "carthouse.v1.FraudService" not in listed_services(channel)
    with grpc.insecure_channel(stack.fraud_target) as fraud:
        assert "carthouse.v1.FraudService" in listed_services(fraud)


def test_reflection_serves_the_descriptors(channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="carthouse.v1.IngestService")
    response = next(stub.ServerReflectionInfo(iter([request])))
    assert response.file_descriptor_response.file_descriptor_proto


def test_admin_calls_need_the_admin_token(channel) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    for metadata in ((), (("x-admin-token", "wrong"),)):
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListAppspaces(admin_pb2.ListAppspacesRequest(), metadata=metadata)
        assert (caught.value.code(), caught.value.details()) == (
            grpc.StatusCode.UNAUTHENTICATED, "Admin token required")


def test_admin_rejects_bad_appspace_settings(new_appspace) -> None:
    cases = [
        (admin_pb2.CreateAppspaceRequest(name="x", plan="platinum"),
         "plan must be one of free, standard, growth, scale, enterprise"),
        (admin_pb2.CreateAppspaceRequest(name="x", base_currency="XYZ"), "Invalid currency: XYZ"),
        (admin_pb2.CreateAppspaceRequest(name="x", timezone="Mars/Olympus"), "Unknown timezone: Mars/Olympus"),
        (admin_pb2.CreateAppspaceRequest(name=" "), "name is required"),
    ]
    for request, message in cases:
        with pytest.raises(grpc.RpcError) as caught:
            new_appspace.stub.CreateAppspace(request, metadata=new_appspace.metadata)
        assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_keys_are_listed_without_secrets(new_appspace) -> None:
    shop = new_appspace()
    keys = new_appspace.stub.ListKeys(admin_pb2.ListKeysRequest(appspace_id=shop.appspace_id),
                                      metadata=new_appspace.metadata).keys
    assert sorted(k.kind for k in keys) == ["publishable", "secret"]
    assert all(k.key_id in (shop.publishable_key + shop.secret_key) for k in keys)
    assert all(not k.revoked_at for k in keys)


def test_analytics_authenticates_before_anything_else(channel, new_appspace) -> None:
    shop = new_appspace()
    stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
    cases = [
        ((), grpc.StatusCode.UNAUTHENTICATED, "API key required"),
        (key(shop.publishable_key), grpc.StatusCode.PERMISSION_DENIED, "Secret key required"),
        (key(shop.secret_key), grpc.StatusCode.INVALID_ARGUMENT, "user_id is required"),
    ]
    for metadata, code, message in cases:
        with pytest.raises(grpc.RpcError) as caught:
            stub.DeleteUser(analytics_pb2.DeleteUserRequest(), metadata=metadata)
        assert (caught.value.code(), caught.value.details()) == (code, message)


def test_a_process_can_serve_a_subset_of_the_services(store, redis_server, session_dir) -> None:
    from app.stack import running_stack
    from carthouse.config import Settings

    settings = Settings(data_dir=session_dir / "subset", database=store.database, admin_token="t")
    with running_stack(settings, redis_server.url, store=store, port=0, services=["admin"]) as stack, \
            grpc.insecure_channel(stack.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service="carthouse.v1.AdminService")).status == 1
        with pytest.raises(grpc.RpcError) as caught:
            health.Check(health_pb2.HealthCheckRequest(service="carthouse.v1.IngestService"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_appspace_settings_change_but_the_base_currency_is_fixed(new_appspace) -> None:
    shop = new_appspace("standard", base_currency="EUR")
    stub, metadata = new_appspace.stub, new_appspace.metadata
    updated = stub.UpdateAppspace(
        admin_pb2.UpdateAppspaceRequest(appspace_id=shop.appspace_id, plan="growth", timezone="Europe/Berlin"),
        metadata=metadata,
    ).appspace
    assert (updated.plan, updated.timezone, updated.base_currency) == ("growth", "Europe/Berlin", "EUR")
    same = stub.UpdateAppspace(admin_pb2.UpdateAppspaceRequest(appspace_id=shop.appspace_id, base_currency="eur"),
                               metadata=metadata).appspace
    assert same.created_at == updated.created_at
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateAppspace(admin_pb2.UpdateAppspaceRequest(appspace_id=shop.appspace_id, base_currency="USD"),
                            metadata=metadata)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "The base currency cannot be changed after creation: this appspace's revenue is stored in EUR")
