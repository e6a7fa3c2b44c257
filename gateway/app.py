"""The gateway as an ASGI application: route, bind, call the upstream gRPC method, render.

Every route comes from the descriptor set; nothing here names an endpoint of the API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import grpc
import orjson
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from carthouse import clientip
from gateway import assets, dashboard, ratelimit
from gateway.binding import BindingError, build_request
from gateway.descriptors import ApiDescriptors, Route, Router
from gateway.openapi import openapi_document
from gateway.ratelimit import TOO_MANY, Decision, RateLimiter
from gateway.render import error_json, http_status, message_json

log = logging.getLogger("carthouse.gateway")

MAX_BODY_BYTES = 1024 * 1024
NOT_FOUND = "Not found"
BODY_TOO_LARGE = "Request body too large (limit 1 MiB)"
MALFORMED_JSON = "Malformed JSON body"
INTERNAL_ERROR = "Internal error"
# Metadata the upstream may see. x-admin-token in particular is never forwarded from outside.
FORWARDED_HEADERS = (b"x-api-key", b"authorization")
# gRPC replaces a call's user-agent with its own, so the client's travels under this name (ingest believes
# it only from trusted peers, like x-forwarded-for).
CLIENT_USER_AGENT = "x-client-user-agent"
_CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type, x-api-key, authorization"),
    (b"access-control-max-age", b"86400"),
    # What the browser tracker reads of an answer: the server's clock, and how long to wait when refused.
    (b"access-control-expose-headers", b"date, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset"),
]
_SKIPPED_UPSTREAM_HEADERS = ("content-type", "grpc-", ":", "x-error-code")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class GatewayConfig:
    upstream: str
    redis_url: str
    rate_limit_per_min: int = 1000
    # The limit's window: a minute in the product; tests of clients that wait for the next window shorten it.
    rate_limit_window_seconds: int = ratelimit.WINDOW_SECONDS
    trusted_proxies: str = ""
    timeout_seconds: float = 30.0
    # How long a dashboard sign-in lasts.
    session_seconds: int = dashboard.DEFAULT_SESSION_SECONDS


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class Gateway:
    def __init__(self, api: ApiDescriptors, config: GatewayConfig) -> None:
        self.api = api
        self.config = config
        self.router = Router(api.routes)
        self.trusted = clientip.parse_networks(config.trusted_proxies)
        self.ingestion_paths = {r.template for r in api.routes if r.verb == "POST"}
        self.openapi = orjson.dumps(openapi_document(api))
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._redis: aioredis.Redis | None = None
        self._limiter: RateLimiter | None = None
        self._sessions: dashboard.Sessions | None = None
        # The route a dashboard sign-in checks the key against (any read needing a secret key would do).
        self._key_check = next(r for r in api.routes if r.verb == "GET" and r.grpc_path.endswith("/Overview"))
        # What a signed-in dashboard needs first: the appspace, answered with the session's state.
        self._appspace = next(r for r in api.routes if r.verb == "GET" and r.grpc_path.endswith("/GetAppspace"))
        self._tracker_version = assets.tracker_version()

    # ------------------------------------------------------------ lifecycle

    async def startup(self) -> None:
        self._channel = grpc.aio.insecure_channel(
            self.config.upstream, options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)]
        )
        for route in self.api.routes:
            self._calls[route.grpc_path] = self._channel.unary_unary(
                route.grpc_path,
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=route.response_class.FromString,
            )
        self._redis = ratelimit.connect(self.config.redis_url)
        self._limiter = RateLimiter(self._redis, self.config.rate_limit_per_min,
                                    self.config.rate_limit_window_seconds)
        self._sessions = dashboard.Sessions(self._redis, self.config.session_seconds)
        log.info("gateway: %d routes to %s", len(self.api.routes), self.config.upstream)
        if assets.tracker_file(assets.TRACKER_PATH, "") is None:
            log.warning("gateway: the browser tracker is not built (make setup, or npm run build:tracker); "
                        "%s answers 404", assets.TRACKER_PATH)

    async def shutdown(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._redis is not None:
            await self._redis.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------ requests

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        verb: str = scope["method"]
        headers = _headers(scope)
        if path == "/healthz" and verb == "GET":
            await self._healthz(send)
            return
        if path == "/openapi.json" and verb == "GET":
            await _respond(send, 200, self.openapi)
            return
        if verb == "GET" and (path in ("/", "/dashboard") or path.startswith("/dashboard/")) \
                and path != dashboard.SESSION_PATH and not path.startswith(dashboard.API_PREFIX):
            await self._dashboard_file(scope, path, send)
            return
        if verb == "GET" and path.startswith("/sdk/"):
            await self._tracker(path, send)
            return
        cors = _CORS_HEADERS if path in self.ingestion_paths else []
        if verb == "OPTIONS" and cors:
            await _respond(send, 204, b"", cors, content_type=None)
            return
        peer = (scope.get("client") or ("", 0))[0]
        client, forwarded_for = clientip.resolve(peer, headers.get(b"x-forwarded-for", b"").decode("latin-1"),
                                                 self.trusted)
        decision = await self._limiter.check(client) if self._limiter else None
        extra = [*cors, *(decision.headers() if decision else [])]
        if decision is not None and not decision.allowed:
            await _respond(send, 429, error_json(TOO_MANY), extra)
            return
        try:
            if path == dashboard.SESSION_PATH:
                status, body, upstream_headers = await self._session(scope, receive, verb, headers, forwarded_for)
            else:
                status, body, upstream_headers = await self._call(scope, receive, verb, path, headers,
                                                                  forwarded_for)
        except HttpError as exc:
            await _respond(send, exc.status, error_json(exc.message, exc.code), extra)
            return
        except Exception:  # a bug must still answer in the documented shape, and say what happened in the log
            log.exception("%s %s failed", verb, path)
            await _respond(send, 500, error_json(INTERNAL_ERROR), extra)
            return
        await _respond(send, status, body, [*extra, *upstream_headers])

    async def _call(
        self, scope: dict[str, Any], receive: Receive, verb: str, path: str, headers: dict[bytes, bytes],
        forwarded_for: str,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        # The dashboard reads the API under its own prefix, with its session cookie instead of a key; the API's
        # own paths never take a cookie.
        by_session = path.startswith(dashboard.API_PREFIX)
        matched = self.router.match(verb, path.removeprefix(dashboard.API_PREFIX) if by_session else path)
        if matched is None:
            raise HttpError(404, NOT_FOUND)
        route, variables = matched
        body = await self._json_body(route, headers, receive)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        try:
            message = build_request(route, variables, query, body)
        except BindingError as exc:
            raise HttpError(400, str(exc)) from None
        if by_session:
            metadata = [("x-api-key", await self._session_key(dashboard.session_token(headers.get(b"cookie", b"")),
                                                              verb))]
        else:
            metadata = [(name.decode(), value) for name in FORWARDED_HEADERS
                        if (value := _metadata_value(headers, name))]
        metadata.append(("x-forwarded-for", forwarded_for))
        if user_agent := _metadata_value(headers, b"user-agent"):
            metadata.append((CLIENT_USER_AGENT, user_agent))
        call = self._calls[route.grpc_path](message, metadata=metadata, timeout=self.config.timeout_seconds)
        try:
            response = await call
        except grpc.aio.AioRpcError as exc:
            code = dict(exc.trailing_metadata() or ()).get("x-error-code", "")
            raise HttpError(http_status(exc.code()), exc.details() or exc.code().name, str(code)) from None
        initial = await call.initial_metadata()
        upstream_headers = [
            (str(key).encode(), str(value).encode())
            for key, value in (initial or ())
            if not str(key).startswith(_SKIPPED_UPSTREAM_HEADERS) and isinstance(value, str)
        ]
        return 200, message_json(response), upstream_headers

    async def _session_key(self, token: str, verb: str) -> str:
        """The secret key a dashboard session reads with; a session never writes."""
        if verb != "GET":
            raise HttpError(403, dashboard.READ_ONLY)
        session = await self._sessions.get(token) if self._sessions else None
        if session is None:
            raise HttpError(401, dashboard.NOT_SIGNED_IN)
        return session.api_key

    async def _session(
        self, scope: dict[str, Any], receive: Receive, verb: str, headers: dict[bytes, bytes], forwarded_for: str,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """POST: sign in with {"key": <secret key>} (checked upstream) -> a session cookie; GET: whether this
        browser is signed in ({"signed_in": …}, 200 either way, with the appspace when signed in); DELETE: sign out."""
        token = dashboard.session_token(headers.get(b"cookie", b""))
        secure = scope.get("scheme") == "https" or headers.get(b"x-forwarded-proto") == b"https"
        if verb == "GET":
            session = await self._sessions.get(token)
            if session is None:
                return 200, orjson.dumps({"signed_in": False}), []
            route = self._appspace
            metadata = [("x-api-key", session.api_key), ("x-forwarded-for", forwarded_for)]
            try:
                appspace = await self._calls[route.grpc_path](build_request(route, {}, [], None), metadata=metadata,
                                                              timeout=self.config.timeout_seconds)
            except grpc.aio.AioRpcError as exc:  # the key was revoked since: signed out
                if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    return 200, orjson.dumps({"signed_in": False}), []
                raise HttpError(http_status(exc.code()), exc.details() or exc.code().name) from None
            return 200, b'{"signed_in":true,"appspace":' + message_json(appspace) + b"}", []
        if verb == "DELETE":
            await self._sessions.end(token)
            return 200, orjson.dumps({"ok": True}), [dashboard.set_cookie("", 0, secure)]
        if verb != "POST":
            raise HttpError(404, NOT_FOUND)
        body = await self._json_body(None, headers, receive)
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise HttpError(400, dashboard.KEY_REQUIRED)
        route = self._key_check
        message = build_request(route, {}, [("days", "1")], None)
        metadata = [("x-api-key", key.strip()), ("x-forwarded-for", forwarded_for)]
        try:
            await self._calls[route.grpc_path](message, metadata=metadata, timeout=self.config.timeout_seconds)
        except grpc.aio.AioRpcError as exc:
            raise HttpError(http_status(exc.code()), exc.details() or exc.code().name) from None
        token = await self._sessions.create(key.strip())
        return 200, orjson.dumps({"ok": True}), [dashboard.set_cookie(token, self._sessions.ttl_seconds, secure)]

    async def _dashboard_file(self, scope: dict[str, Any], path: str, send: Send) -> None:
        if path.startswith(dashboard.SHARE_PREFIX):
            await self._open_share_link(scope, path.removeprefix(dashboard.SHARE_PREFIX), send)
            return
        if path in ("/", "/dashboard"):
            await _respond(send, 302, b"", [(b"location", b"/dashboard/")], content_type=None)
            return
        versioned = b"v=" in scope.get("query_string", b"")
        await _respond_file(send, dashboard.static_file(path.removeprefix("/dashboard/"), versioned))

    async def _tracker(self, path: str, send: Send) -> None:
        await _respond_file(send, assets.tracker_file(path, self._tracker_version))

    async def _open_share_link(self, scope: dict[str, Any], token: str, send: Send) -> None:
        """A share link's session becomes this browser's (read-only, until the link expires or is revoked)."""
        headers = _headers(scope)
        secure = scope.get("scheme") == "https" or headers.get(b"x-forwarded-proto") == b"https"
        if self._sessions is None or await self._sessions.get(token) is None:
            await _respond(send, 302, b"", [(b"location", b"/dashboard/?share=expired")], content_type=None)
            return
        cookie = dashboard.set_cookie(token, await self._sessions.seconds_left(token), secure)
        await _respond(send, 302, b"", [(b"location", b"/dashboard/"), cookie], content_type=None)

    async def _json_body(self, route: Route | None, headers: dict[bytes, bytes], receive: Receive) -> Any:
        """The body parsed as JSON (None for routes without one); 413 past 1 MiB, 400 when not JSON."""
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise HttpError(413, BODY_TOO_LARGE)
        chunks = []
        size = 0
        more = True
        while more:
            event = await receive()
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise HttpError(413, BODY_TOO_LARGE)
            chunks.append(chunk)
            more = event.get("more_body", False)
        if route is not None and not route.body:
            return None
        # Like Envoy's transcoder, the body is read as JSON whatever the content type says: curl -d sends
        # form encoding and navigator.sendBeacon text/plain; what is not JSON gets a 400 below.
        raw = b"".join(chunks)
        if not raw.strip():
            raise HttpError(400, "Request body must be a JSON object")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise HttpError(400, MALFORMED_JSON) from None

    async def _healthz(self, send: Send) -> None:
        """200 only when every upstream service the routes need reports SERVING."""
        statuses: dict[str, str] = {}
        if self._channel is not None:
            stub = health_pb2_grpc.HealthStub(self._channel)

            async def check(service: str) -> None:
                try:
                    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                    statuses[service] = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
                except grpc.aio.AioRpcError as exc:
                    statuses[service] = exc.code().name

            await asyncio.gather(*(check(service) for service in self.api.public_services()))
        healthy = bool(statuses) and all(status == "SERVING" for status in statuses.values())
        body = {"status": "SERVING" if healthy else "NOT_SERVING", "services": statuses}
        await _respond(send, 200 if healthy else 503, orjson.dumps(body))


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def _metadata_value(headers: dict[bytes, bytes], name: bytes) -> str:
    """The header as gRPC metadata, or "" when absent or not visible ASCII: gRPC refuses such a value (the
    call would fail), and no valid key or user agent needs one, so the request goes on without it."""
    value = headers.get(name, b"")
    return value.decode("ascii") if value and all(0x20 <= byte <= 0x7E for byte in value) else ""


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes | None = b"application/json",
) -> None:
    all_headers = [(b"content-type", content_type)] if content_type else []
    all_headers += headers or []
    all_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _respond_file(send: Send, found: assets.StaticFile | None) -> None:
    if found is None:
        await _respond(send, 404, error_json(NOT_FOUND))
        return
    await _respond(send, 200, found.body, [(b"cache-control", found.cache_control)], content_type=found.content_type)


__all__ = ["Decision", "Gateway", "GatewayConfig"]
