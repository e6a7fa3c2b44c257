"""Domain errors that map onto gRPC status codes (and, through the gateway, HTTP statuses).

Domain code raises these; one server interceptor turns them into the gRPC status, so no handler
repeats the mapping. ``error_code`` travels as trailing metadata ``x-error-code`` for plan errors.
"""

from __future__ import annotations

import grpc

ERROR_CODE_METADATA = "x-error-code"
STORE_UNAVAILABLE = "Storage is unavailable; nothing was stored, please retry"


class ApiError(Exception):
    """An error the caller should see, with its exact message."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, error_code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code


class InvalidArgument(ApiError):
    status = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(ApiError):
    status = grpc.StatusCode.UNAUTHENTICATED


class FailedPrecondition(ApiError):
    status = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(ApiError):
    status = grpc.StatusCode.PERMISSION_DENIED


class NotFound(ApiError):
    status = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ApiError):
    status = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(ApiError):
    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ApiError):
    status = grpc.StatusCode.UNAVAILABLE


class Unimplemented(ApiError):
    status = grpc.StatusCode.UNIMPLEMENTED


class Internal(ApiError):
    status = grpc.StatusCode.INTERNAL
