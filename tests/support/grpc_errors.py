"""For servicer-level tests on pytest-grpc's (synchronous) server: the domain errors a servicer raises become
their gRPC status, as carthouse/grpc_server.py's interceptor does on the stack's server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from carthouse.errors import ApiError


class DomainErrors(grpc.ServerInterceptor):
    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return inner(request, context)
            except ApiError as exc:
                context.abort(exc.status, exc.message)

        return grpc.unary_unary_rpc_method_handler(behaviour, handler.request_deserializer,
                                                   handler.response_serializer)
