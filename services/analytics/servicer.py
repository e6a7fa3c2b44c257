"""AnalyticsService servicer. No query is built yet (issues 6 and 7): every RPC authenticates the caller,
requires a secret key, then answers UNIMPLEMENTED. Nothing pretends to answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from carthouse.auth import Authenticator
from carthouse.errors import Unimplemented
from carthouse.v1 import analytics_pb2, analytics_pb2_grpc

SERVICE = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"]
SERVICE_NAME = SERVICE.full_name


def _not_yet(method: str) -> Callable[[Any, Any, grpc.ServicerContext], Any]:
    def handler(self: AnalyticsServicer, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth.authenticate(context.invocation_metadata()).require_secret()
        raise Unimplemented(f"{method} is not implemented yet")

    handler.__name__ = method
    return handler


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator


for _method in SERVICE.methods:
    setattr(AnalyticsServicer, _method.name, _not_yet(_method.name))
