"""Running the gateway: uvicorn (httptools, uvloop) serving the ASGI app."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from carthouse.config import Settings
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
            session_seconds=settings.dashboard_session_hours * 3600,
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
