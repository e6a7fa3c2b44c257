"""Running the gateway: uvicorn (httptools, uvloop) serving the ASGI app."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from carthouse.config import Settings
from carthouse.lifeline import follow_parent_from_env
from carthouse.startup import freeze_loaded_objects
from gateway.app import Gateway, GatewayConfig
from gateway.descriptors import ApiDescriptors


def build_gateway(settings: Settings, redis_url: str) -> Gateway:
    descriptors = ApiDescriptors(Path(settings.descriptor_set)) if settings.descriptor_set else ApiDescriptors()
    return Gateway(
        descriptors,
        GatewayConfig(
            upstream=settings.upstream or settings.grpc_target,
            redis_url=redis_url,
            rate_limit_per_min=settings.rate_limit_per_min,
            trusted_proxies=settings.trusted_proxies,
        ),
    )


def gateway_server(app: Gateway, host: str, port: int, log_level: str = "warning") -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level=log_level,
            server_header=False,
            proxy_headers=False,  # gateway/clientip.py decides which X-Forwarded-For to believe
            timeout_graceful_shutdown=15,
        )
    )


def run_gateway(settings: Settings, redis_url: str) -> None:
    """Serve until SIGINT/SIGTERM (or, started by `carthouse run`, until that process is gone); uvicorn lets
    in-flight requests finish before it exits."""
    server = gateway_server(build_gateway(settings, redis_url), settings.http_host, settings.http_port,
                            settings.log_level.lower())
    follow_parent_from_env(lambda: setattr(server, "should_exit", True))
    freeze_loaded_objects()
    server.run()
