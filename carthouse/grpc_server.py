"""gRPC server plumbing shared by every service: interceptors, health, reflection, serve()."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from carthouse.errors import ERROR_CODE_METADATA, ApiError, Internal, Unavailable, Unimplemented
from carthouse.store import StoreUnavailable

log = logging.getLogger("carthouse.grpc")

ADMIN_TOKEN_METADATA = "x-admin-token"
STORE_UNAVAILABLE = "Storage is unavailable; nothing was stored, please retry"


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer with what the server needs to host it."""

    full_name: str
    register: Callable[[Any, grpc.Server], None]
    servicer: Any


def _wrap_unary(handler: grpc.RpcMethodHandler, behaviour: Callable[[Any, grpc.ServicerContext], Any]):
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class ErrorInterceptor(grpc.ServerInterceptor):
    """Turns domain errors into gRPC statuses in one place, and logs what was unexpected."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method

        def behaviour(request, context):
            try:
                return inner(request, context)
            except ApiError as exc:
                error = exc
            except NotImplementedError:
                # Generated servicer bases raise this for RPCs whose issue has not landed yet.
                error = Unimplemented(f"{method.rsplit('/', 1)[-1]} is not implemented yet")
            except StoreUnavailable as exc:
                log.error("%s: store unavailable: %s", method, exc)
                error = Unavailable(STORE_UNAVAILABLE)
            except Exception:
                log.exception("%s failed", method)
                error = Internal("Internal error")
            if error.error_code:
                context.set_trailing_metadata(((ERROR_CODE_METADATA, error.error_code),))
            context.abort(error.status, error.message)

        return _wrap_unary(handler, behaviour)


class AdminTokenInterceptor(grpc.ServerInterceptor):
    """AdminService calls must carry the admin token; the comparison is constant-time."""

    def __init__(self, token: str, service_prefix: str = "/carthouse.v1.AdminService/") -> None:
        self._token = token.encode()
        self._prefix = service_prefix

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(self._prefix):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        offered = str(metadata.get(ADMIN_TOKEN_METADATA, "")).encode()
        if hmac.compare_digest(offered, self._token):
            return handler

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "Admin token required")

        return _wrap_unary(handler, deny)


@contextmanager
def serve(
    bindings: Sequence[ServiceBinding],
    host: str = "127.0.0.1",
    port: int = 0,
    admin_token: str = "",
    max_workers: int = 32,
) -> Iterator[int]:
    """Host the services with health and reflection; yields the bound port (0 picks a free one)."""
    interceptors: list[grpc.ServerInterceptor] = [ErrorInterceptor()]
    if admin_token:
        interceptors.insert(0, AdminTokenInterceptor(admin_token))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=interceptors,
        options=[("grpc.max_receive_message_length", 16 * 1024 * 1024), ("grpc.so_reuseport", 0)],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        binding.register(binding.servicer, server)
        health_servicer.set(binding.full_name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    names = [b.full_name for b in bindings] + [health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind gRPC port {host}:{port}")
    server.start()
    log.info("gRPC listening on %s:%d (%s)", host, bound, ", ".join(b.full_name for b in bindings))
    try:
        yield bound
    finally:
        health_servicer.enter_graceful_shutdown()
        server.stop(grace=10).wait()
        log.info("gRPC server on port %d stopped", bound)
