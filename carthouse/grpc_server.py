"""gRPC server plumbing shared by every service: interceptors, health, reflection, serve()."""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from carthouse.admin_token import ADMIN_TOKEN_METADATA
from carthouse.errors import ERROR_CODE_METADATA, STORE_UNAVAILABLE, ApiError, Internal, Unavailable, Unimplemented
from carthouse.store import StoreUnavailable

log = logging.getLogger("carthouse.grpc")



@dataclass(frozen=True)
class ServiceBinding:
    """A servicer with what the server needs to host it; with no servicer, a service hosted elsewhere (a
    child process) whose health this server reports through ``healthy``."""

    full_name: str
    register: Callable[[Any, grpc.Server], None] | None
    servicer: Any
    # Polled every HEALTH_POLL_SECONDS: False turns the service's health to NOT_SERVING until it is True again.
    healthy: Callable[[], bool] | None = None


HEALTH_POLL_SECONDS = 2.0


async def _poll_health(bindings: Sequence[ServiceBinding], health_servicer: Any) -> None:
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    probed = [b for b in bindings if b.healthy is not None]
    last: dict[str, bool] = {}
    while probed:
        for binding in probed:
            ok = await asyncio.to_thread(binding.healthy)
            if last.get(binding.full_name) != ok:
                last[binding.full_name] = ok
                await health_servicer.set(binding.full_name, serving if ok else not_serving)
                if not ok:
                    log.warning("%s reports itself unhealthy", binding.full_name)
        await asyncio.sleep(HEALTH_POLL_SECONDS)


def _wrap_unary(handler: grpc.RpcMethodHandler, behaviour: Callable[[Any, Any], Awaitable[Any]]):
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Turns domain errors into gRPC statuses in one place, and logs what was unexpected.

    Servicer methods may be coroutines (ingest) or plain blocking functions (admin and others, which
    call ClickHouse synchronously); the latter run in a worker thread so they never block the event loop.
    """

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = handler_call_details.method
        is_async = inspect.iscoroutinefunction(inner)

        async def behaviour(request, context):
            try:
                if is_async:
                    return await inner(request, context)
                return await asyncio.to_thread(inner, request, context)
            except ApiError as exc:
                error = exc
            except NotImplementedError:
                # What a generated servicer base raises for an RPC its servicer does not define.
                error = Unimplemented(f"{method.rsplit('/', 1)[-1]} is not implemented")
            except StoreUnavailable as exc:
                log.error("%s: store unavailable: %s", method, exc)
                error = Unavailable(STORE_UNAVAILABLE)
            except Exception:
                log.exception("%s failed", method)
                error = Internal("Internal error")
            if error.error_code:
                context.set_trailing_metadata(((ERROR_CODE_METADATA, error.error_code),))
            await context.abort(error.status, error.message)

        return _wrap_unary(handler, behaviour)


class AdminTokenInterceptor(grpc.aio.ServerInterceptor):
    """AdminService calls must carry the admin token; the comparison is constant-time."""

    def __init__(self, token: str, service_prefix: str = "/carthouse.v1.AdminService/") -> None:
        self._token = token.encode()
        self._prefix = service_prefix

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(self._prefix):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        offered = str(metadata.get(ADMIN_TOKEN_METADATA, "")).encode()
        if hmac.compare_digest(offered, self._token):
            return handler

        async def deny(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Admin token required")

        return _wrap_unary(handler, deny)


async def _serve_until_stopped(
    bindings: Sequence[ServiceBinding],
    address: str,
    admin_token: str,
    started: Callable[[int], None],
    stop: asyncio.Event,
) -> None:
    interceptors: list[grpc.aio.ServerInterceptor] = [ErrorInterceptor()]
    if admin_token:
        interceptors.insert(0, AdminTokenInterceptor(admin_token))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[("grpc.max_receive_message_length", 16 * 1024 * 1024), ("grpc.so_reuseport", 0)],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        if binding.register is not None:
            binding.register(binding.servicer, server)
        await health_servicer.set(binding.full_name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    hosted = [b.full_name for b in bindings if b.register is not None]
    names = [*hosted, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"could not bind gRPC port {address}")
    await server.start()
    poller = asyncio.ensure_future(_poll_health(bindings, health_servicer))
    started(bound)
    await stop.wait()
    poller.cancel()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=10)


@contextmanager
def serve(
    bindings: Sequence[ServiceBinding],
    host: str = "127.0.0.1",
    port: int = 0,
    admin_token: str = "",
) -> Iterator[int]:
    """Host the services with health and reflection on an asyncio gRPC server in its own thread; yields
    the bound port (0 picks a free one). On exit, in-flight calls get a grace period to finish."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    outcome: dict[str, Any] = {}

    def started(bound: int) -> None:
        outcome["port"] = bound
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_serve_until_stopped(bindings, f"{host}:{port}", admin_token, started, stop))
        except BaseException as exc:  # reported to the starting thread
            outcome["error"] = exc
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="grpc-server", daemon=True)
    thread.start()
    ready.wait()
    if "error" in outcome:
        thread.join()
        raise outcome["error"]
    bound = outcome["port"]
    log.info("gRPC listening on %s:%d (%s)", host, bound, ", ".join(b.full_name for b in bindings))
    try:
        yield bound
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        log.info("gRPC server on port %d stopped", bound)
