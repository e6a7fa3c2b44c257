"""AdminService servicer: protobuf in and out; the work is in appspaces.py."""

from __future__ import annotations

import json

import grpc
import redis

from carthouse.clock import utc_now
from carthouse.tenancy import fraud_settings
from carthouse.tenancy.repository import Appspace, KeyRecord, rfc3339
from carthouse.v1 import admin_pb2, admin_pb2_grpc
from services.admin import share_links
from services.admin.appspaces import AppspaceAdmin

SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


def appspace_to_proto(appspace: Appspace) -> admin_pb2.Appspace:
    return admin_pb2.Appspace(
        appspace_id=appspace.appspace_id,
        name=appspace.name,
        plan=appspace.plan_name,
        base_currency=appspace.base_currency,
        timezone=appspace.timezone,
        created_at=rfc3339(appspace.created_at),
        fraud_settings_json=json.dumps(fraud_settings.effective(appspace.settings.get("fraud", {}))),
    )


def key_to_proto(key: KeyRecord) -> admin_pb2.ApiKey:
    return admin_pb2.ApiKey(
        key_id=key.key_id,
        appspace_id=key.appspace_id,
        kind=key.kind,
        created_at=rfc3339(key.created_at),
        revoked_at=rfc3339(key.revoked_at),
    )


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, admin: AppspaceAdmin, redis_client: redis.Redis) -> None:
        self._admin = admin
        self._redis = redis_client

    def CreateAppspace(self, request, context: grpc.ServicerContext) -> admin_pb2.CreateAppspaceResponse:
        created = self._admin.create_appspace(request.name, request.plan, request.base_currency, request.timezone)
        return admin_pb2.CreateAppspaceResponse(
            appspace=appspace_to_proto(created.appspace),
            publishable_key=created.publishable.api_key,
            secret_key=created.secret.api_key,
        )

    def UpdateAppspace(self, request, context: grpc.ServicerContext) -> admin_pb2.UpdateAppspaceResponse:
        def given(name: str) -> str | None:
            return getattr(request, name) if request.HasField(name) else None

        updated = self._admin.update_appspace(
            request.appspace_id, given("name"), given("plan"), given("base_currency"), given("timezone"),
            dict(request.fraud_settings),
        )
        return admin_pb2.UpdateAppspaceResponse(appspace=appspace_to_proto(updated))

    def ListAppspaces(self, request, context: grpc.ServicerContext) -> admin_pb2.ListAppspacesResponse:
        return admin_pb2.ListAppspacesResponse(
            appspaces=[appspace_to_proto(a) for a in self._admin.list_appspaces()]
        )

    def CreateKey(self, request, context: grpc.ServicerContext) -> admin_pb2.CreateKeyResponse:
        created = self._admin.create_key(request.appspace_id, request.kind)
        return admin_pb2.CreateKeyResponse(key=key_to_proto(created.record), api_key=created.api_key)

    def ListKeys(self, request, context: grpc.ServicerContext) -> admin_pb2.ListKeysResponse:
        return admin_pb2.ListKeysResponse(keys=[key_to_proto(k) for k in self._admin.list_keys(request.appspace_id)])

    def RevokeKey(self, request, context: grpc.ServicerContext) -> admin_pb2.RevokeKeyResponse:
        return admin_pb2.RevokeKeyResponse(key=key_to_proto(self._admin.revoke_key(request.key_id)))

    def CreateShareLink(self, request, context: grpc.ServicerContext) -> admin_pb2.CreateShareLinkResponse:
        link = share_links.create(self._admin, self._redis, request.appspace_id, request.expires_in_seconds, utc_now())
        return admin_pb2.CreateShareLinkResponse(token=link.token, key_id=link.key_id,
                                                 expires_at=link.expires_at.isoformat().replace("+00:00", "Z"))

    def RevokeShareLink(self, request, context: grpc.ServicerContext) -> admin_pb2.RevokeShareLinkResponse:
        return admin_pb2.RevokeShareLinkResponse(revoked=share_links.revoke(self._admin, self._redis, request.token))
