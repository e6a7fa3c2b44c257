"""Running the gateway: uvicorn (httptools, uvloop) serving the ASGI app."""

from __future__ import annotations

import uvicorn

from carthouse.config import Settings
from gateway.app import Gateway, GatewayConfig
from gateway.descriptors import ApiDescriptors


def build_gateway(settings: Settings, redis_url: str) -> Gateway:
    descriptors = ApiDescriptors(settings.descriptor_set) if settings.descriptor_set else ApiDescriptors()
    return Gateway(
        descriptors,
        GatewayConfig(
            upstream=settings.upstream or settings.grpc_target,
            redis_url=redis_url,
            rate_limit_per_min=settings.rate_limit_per_min,
            trusted_proxies=settings.trusted_proxies,
        ),
    )


def run_gateway(settings: Settings, redis_url: str) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn lets in-flight requests finish before it exits."""
    config = uvicorn.Config(
        build_gateway(settings, redis_url),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level.lower(),
        server_header=False,
        timeout_graceful_shutdown=15,
    )
    uvicorn.Server(config).run()
